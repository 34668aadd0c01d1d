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
    pub fn exec(
        self,
        pod: &str,
        namespace: Option<&str>,
        container: &str,
        argv: &[String],
    ) -> Self {
        let mut args = vec!["exec".to_owned(), pod.to_owned()];
        if let Some(ns) = namespace {
            args.extend(["-n".to_owned(), ns.to_owned()]);
        }
        args.extend(["-c".to_owned(), container.to_owned(), "--".to_owned()]);
        args.extend(argv.iter().cloned());
        self.args(args)
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
        words.extend(rest.map(|a| shell_quote(a)));
        words.join(" ")
    }
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
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+^".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_renders_like_the_runbook() {
        let argv: Vec<String> = [
            "curl",
            "-sS",
            "-w",
            "%{http_code}",
            "http://httpbin.sample:8000/",
        ]
        .map(String::from)
        .into();
        let cmd = KubectlCommand::new(None, Some("mesh-east")).exec(
            "sleep-1",
            Some("legacy"),
            "sleep",
            &argv,
        );
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
        assert_eq!(
            cmd.render(),
            "kubectl rollout restart --context=c deployment/istiod -n istio-system"
        );
    }

    #[test]
    fn quotes_single_quotes_and_spaces() {
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(shell_quote(""), "''");
    }
}
