//! The commands a check runs, kept in the runbook's own `kubectl ...` form so a user can paste them into a
//! terminal or a ticket and get the same answer by hand.

/// A kubectl invocation with the selection flags the user gave us, rendered copy-pasteable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubectlCommand {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub verb_and_args: Vec<String>,
}

impl KubectlCommand {
    pub fn new(kubeconfig: Option<&str>, context: Option<&str>) -> Self {
        KubectlCommand {
            kubeconfig: kubeconfig.map(str::to_owned),
            context: context.map(str::to_owned),
            verb_and_args: Vec::new(),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.verb_and_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `kubectl exec --context=CTX POD -n NS -c CONTAINER -- ARGV...`, the runbook's shape. Without a
    /// namespace the command relies on the context's own, as kubectl does.
    pub fn exec(self, pod: &str, namespace: Option<&str>, container: &str, argv: &[String]) -> Self {
        let mut args = vec!["exec".to_owned(), pod.to_owned()];
        if let Some(ns) = namespace {
            args.extend(["-n".to_owned(), ns.to_owned()]);
        }
        args.extend(["-c".to_owned(), container.to_owned(), "--".to_owned()]);
        args.extend(argv.iter().cloned());
        self.args(args)
    }

    /// [`exec`](Self::exec) for `--print-commands`, where the pod is not resolved: a pod name or `deploy/NAME`
    /// is printed as typed; a workload name the tool would resolve through its `app` label becomes a command
    /// substitution doing the same lookup (exact pod first, then the label), so the printed line runs as is.
    pub fn exec_planned(self, pod: &str, namespace: Option<&str>, container: &str, argv: &[String]) -> Self {
        let word = if pod.contains('/') || looks_generated(pod) {
            pod.to_owned()
        } else {
            let base = KubectlCommand {
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
                verb_and_args: Vec::new(),
            };
            let ns: Vec<&str> = namespace.map(|n| vec!["-n", n]).unwrap_or_default();
            let exact = base.clone().args(["get", "pod", pod]).args(ns.clone()).args(["-o", "name"]).render();
            let label = format!("app={pod}");
            let by_label = base.args(["get", "pods"]).args(ns).args(["-l", label.as_str(), "-o", "name"]).render();
            format!("{SUBST}{exact} 2>/dev/null || {by_label} | head -n 1")
        };
        self.exec(&word, namespace, container, argv)
    }

    pub fn render(&self) -> String {
        let mut words = vec!["kubectl".to_owned()];
        let mut rest = self.verb_and_args.iter();
        // The verb first, then the selection flags, as the runbook writes `kubectl exec --context=${CTX} ...`;
        // two-word verbs (`rollout restart`, `auth can-i`) stay together.
        if let Some(verb) = rest.next() {
            words.push(shell_quote(verb));
            if TWO_WORD_VERBS.contains(&verb.as_str())
                && let Some(sub) = rest.next()
            {
                words.push(shell_quote(sub));
            }
        }
        if let Some(kc) = &self.kubeconfig {
            words.push(format!("--kubeconfig={}", shell_quote(kc)));
        }
        if let Some(ctx) = &self.context {
            words.push(format!("--context={}", shell_quote(ctx)));
        }
        words.extend(rest.map(|a| match a.strip_prefix(SUBST) {
            Some(inner) => format!("\"$({inner})\""),
            None => shell_quote(a),
        }));
        words.join(" ")
    }
}

/// Marks an argument that is a command substitution this module built itself (never user text): rendered as
/// `"$(...)"` instead of being quoted. A NUL cannot occur in a Kubernetes name or a typed argument.
const SUBST: &str = "\u{0}subst:";

/// Whether a name looks like a pod a controller generated (`sleep-7dbcdcfc78-2pjgj`, `web-0`).
fn looks_generated(name: &str) -> bool {
    let mut parts = name.rsplit('-');
    let last = parts.next().unwrap_or_default();
    let is_rs = last.len() == 5
        && last.chars().all(|c| c.is_ascii_alphanumeric())
        && parts.next().is_some_and(|h| h.len() >= 8);
    let is_sts = !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()) && name.contains('-');
    is_rs || is_sts
}

/// kubectl commands whose verb is two words.
const TWO_WORD_VERBS: &[&str] = &["rollout", "auth", "config", "certificate", "plugin", "set"];

impl std::fmt::Display for KubectlCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// Quote a word for POSIX shells only when it needs it, so common commands stay readable.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+^".contains(c));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_renders_like_the_runbook() {
        let argv: Vec<String> =
            ["curl", "-sS", "-w", "%{http_code}", "http://httpbin.sample:8000/"].map(String::from).into();
        let cmd = KubectlCommand::new(None, Some("mesh-east")).exec("sleep-1", Some("legacy"), "sleep", &argv);
        assert_eq!(
            cmd.render(),
            "kubectl exec --context=mesh-east sleep-1 -n legacy -c sleep -- curl -sS -w '%{http_code}' http://httpbin.sample:8000/"
        );
    }

    #[test]
    fn two_word_verbs_stay_together() {
        let cmd = KubectlCommand::new(None, Some("c")).args([
            "rollout",
            "restart",
            "deployment/istiod",
            "-n",
            "istio-system",
        ]);
        assert_eq!(cmd.render(), "kubectl rollout restart --context=c deployment/istiod -n istio-system");
    }

    #[test]
    fn planned_exec_resolves_workload_names_in_the_shell() {
        let argv = vec!["curl".to_owned()];
        let cmd = KubectlCommand::new(None, Some("c")).exec_planned("sleep", Some("legacy"), "sleep", &argv);
        assert_eq!(
            cmd.render(),
            "kubectl exec --context=c \"$(kubectl get --context=c pod sleep -n legacy -o name 2>/dev/null || kubectl get --context=c pods -n legacy -l app=sleep -o name | head -n 1)\" -n legacy -c sleep -- curl"
        );
        for literal in ["deploy/sleep", "sleep-7dbcdcfc78-2pjgj", "web-0"] {
            let cmd = KubectlCommand::new(None, None).exec_planned(literal, None, "c", &argv);
            assert_eq!(cmd.render(), format!("kubectl exec {literal} -c c -- curl"));
        }
    }

    #[test]
    fn quotes_single_quotes_and_spaces() {
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(shell_quote(""), "''");
    }
}
