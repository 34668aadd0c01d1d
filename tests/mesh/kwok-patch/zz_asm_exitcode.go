// Added by kubectl-asm's local mesh harness (scripts/mesh/deps.sh) on top of
// sigs.k8s.io/kwok v0.8.0. Not part of kwok.
//
// Why: stock kwok wraps the *exec.ExitError of a local exec ("cmd wait: ...:
// %w"), so the CRI streaming server cannot see the exit status and answers
// with an InternalError instead of "command terminated with exit code N".
// Real kubelets/runtimes pass the status back, and the runbook relies on it
// ("command terminated with exit code 56"). This wrapper unwraps the error.
//
// It also gives each exec target its own PATH (from the Exec CR's envs): the
// command is looked up in that PATH, and a missing executable is reported the
// way runc does (message on stderr, exit code 126), so a container "without
// curl" can be modelled.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// ExecInContainer implements the streaming Runtime interface.
func (s *Server) ExecInContainer(ctx context.Context, name string, uid string, container string, cmd []string, in io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	if len(cmd) == 0 {
		return fmt.Errorf("empty command")
	}
	if pod := strings.Split(name, "/"); len(pod) == 2 && !strings.Contains(cmd[0], "/") {
		if target, err := getExecTarget(s.execs.Get(), s.clusterExecs.Get(), pod[0], pod[1], container); err == nil && target.Local != nil {
			for _, env := range target.Local.Envs {
				if env.Name != "PATH" {
					continue
				}
				resolved := ""
				for _, dir := range filepath.SplitList(env.Value) {
					p := filepath.Join(dir, cmd[0])
					if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
						resolved = p
						break
					}
				}
				if resolved == "" {
					msg := fmt.Sprintf("OCI runtime exec failed: exec failed: unable to start container process: exec: %q: executable file not found in $PATH: unknown\n", cmd[0])
					if stderr != nil {
						_, _ = io.WriteString(stderr, msg)
					} else if stdout != nil {
						_, _ = io.WriteString(stdout, msg)
					}
					return utilexec.CodeExitError{Err: errors.New(strings.TrimSpace(msg)), Code: 126}
				}
				cmd = append([]string{resolved}, cmd[1:]...)
			}
		}
	}
	err := s.execInContainerStock(ctx, name, uid, container, cmd, in, stdout, stderr, tty, resize, timeout)
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		return utilexec.ExitErrorWrapper{ExitError: ee}
	}
	return err
}
