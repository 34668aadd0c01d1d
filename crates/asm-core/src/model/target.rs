//! A probe destination as the operator types it: `SERVICE[.NAMESPACE][:PORT]`, the runbook's
//! `httpbin.sample:8000`.

/// A Service reference. `host` is kept as typed because that is what the pod's resolver will see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub host: String,
    pub name: String,
    pub namespace: Option<String>,
    pub port: Option<u16>,
}

impl ServiceRef {
    pub fn parse(s: &str) -> Result<ServiceRef, String> {
        let s = s.trim().trim_start_matches("http://");
        let s = s.split('/').next().unwrap_or_default();
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => {
                let port: u16 = p.parse().map_err(|_| format!("{p:?} in {s:?} is not a port number"))?;
                if port == 0 {
                    return Err(format!("port 0 in {s:?} is not a valid port"));
                }
                (h, Some(port))
            }
            None => (s, None),
        };
        let mut labels = host.split('.');
        let name = labels.next().unwrap_or_default();
        let namespace = labels.next().filter(|n| !n.is_empty()).map(str::to_owned);
        let valid =
            |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid(name) || namespace.as_deref().is_some_and(|n| !valid(n)) {
            return Err(format!("{s:?} is not SERVICE[.NAMESPACE][:PORT]"));
        }
        Ok(ServiceRef { host: host.to_owned(), name: name.to_owned(), namespace, port })
    }

    /// The plain-HTTP URL the runbook's curl requests: `http://host:port/path` (a path without its leading
    /// slash gets one).
    pub fn url(&self, port: Option<u16>, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://{}{slash}{path}", self.authority(port))
    }

    /// `host:port`, or the bare host when the port is not known yet.
    pub fn authority(&self, port: Option<u16>) -> String {
        match port.or(self.port) {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runbook_shapes() {
        let r = ServiceRef::parse("httpbin.sample:8000").unwrap();
        assert_eq!((r.name.as_str(), r.namespace.as_deref(), r.port), ("httpbin", Some("sample"), Some(8000)));
        let r = ServiceRef::parse("httpbin.sample.svc.cluster.local").unwrap();
        assert_eq!(
            (r.host.as_str(), r.namespace.as_deref(), r.port),
            ("httpbin.sample.svc.cluster.local", Some("sample"), None)
        );
        assert_eq!(ServiceRef::parse("httpbin").unwrap().namespace, None);
        assert!(ServiceRef::parse("httpbin:http").is_err());
        assert!(ServiceRef::parse("httpbin:0").is_err());
        assert!(ServiceRef::parse("").is_err());
        assert!(ServiceRef::parse("Bad_Name.x").is_err());
        let r = ServiceRef::parse("httpbin.sample").unwrap();
        assert_eq!(r.url(Some(8000), "headers"), "http://httpbin.sample:8000/headers");
        assert_eq!(r.url(None, "/"), "http://httpbin.sample/");
    }
}
