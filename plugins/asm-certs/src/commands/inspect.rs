//! `kubectl asm-certs inspect -f FILE|-`: every chain check on what a colleague pasted: `openssl s_client
//! -showcerts` output (including a handshake refused after the chain was shown) or a plain PEM bundle.

use asm_core::checks::certs::chain::{ChainEvidence, check_chain};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand};
use asm_core::model::Report;
use asm_core::parse::sclient::{SClientOutput, parse_sclient};
use asm_core::parse::xfcc::parse_spiffe;
use openssl::x509::X509;

use super::common::{ExpiryArgs, now, read_input, roots_from_file};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Saved `openssl s_client -showcerts` output, or a PEM bundle; `-` for stdin
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: String,
    /// The roots the sidecars trust (an istio-ca-root-cert's root-cert.pem) to verify and compare against
    #[arg(long, value_name = "FILE")]
    pub root_cert: Option<String>,
    /// The mesh's trust domain; the leaf's SPIFFE id must be in it
    #[arg(long, value_name = "TD")]
    pub trust_domain: Option<String>,
    /// The SPIFFE id the leaf must carry (spiffe://TD/ns/NS/sa/SA)
    #[arg(long, value_name = "SPIFFE_ID")]
    pub expect_identity: Option<String>,
    /// Judge validity at this time (RFC 3339) instead of now, e.g. when the output was saved
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
}

/// The certificates of parsed s_client output, or a usage error naming the block that is broken.
pub fn certificates(out: &SClientOutput, what: &str) -> Result<Vec<X509>, CliError> {
    out.pems
        .iter()
        .enumerate()
        .map(|(i, pem)| {
            X509::from_pem(pem.as_bytes())
                .map_err(|e| CliError::usage(format!("{what}: certificate block {i} does not parse as X.509: {e}")))
        })
        .collect()
}

pub fn parse_at(at: Option<&str>) -> Result<i64, CliError> {
    match at {
        None => Ok(now()),
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|d| d.unix_timestamp())
            .or_else(|_| t.parse::<i64>())
            .map_err(|_| CliError::usage(format!("--at {t:?} is neither RFC 3339 nor Unix seconds"))),
    }
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    if g.output.print_commands {
        return Ok(Outcome::Commands(vec![PlannedCommand {
            context: String::new(),
            purpose: "inspect reads a file and runs nothing; the output it expects comes from".into(),
            command:
                "kubectl exec POD -n NS -c istio-proxy -- openssl s_client -alpn istio -showcerts -connect HOST:PORT"
                    .into(),
        }]));
    }
    let text = read_input(&a.file)?;
    let out = parse_sclient(&text).map_err(|e| CliError::usage(format!("{}: {e}", a.file)))?;
    let certs = certificates(&out, &a.file)?;
    let expected_identity = match &a.expect_identity {
        Some(id) => Some(
            parse_spiffe(id)
                .ok_or_else(|| CliError::usage(format!("--expect-identity {id:?} is not spiffe://TD/ns/NS/sa/SA")))?,
        ),
        None => None,
    };
    let ev = ChainEvidence {
        certs,
        source: if a.file == "-" { "stdin".into() } else { format!("file {}", a.file) },
        handshake: Some(out.handshake_story()),
        mesh_roots: a.root_cert.as_deref().map(roots_from_file).transpose()?,
        trust_domain: a.trust_domain.clone().map(|td| (td, "--trust-domain".into())),
        expected_identity,
        commands: vec![],
    };
    let target = if a.file == "-" { "stdin".to_owned() } else { a.file.clone() };
    let findings = check_chain(&ev, "", &target, parse_at(a.at.as_deref())?, a.expiry.policy());
    Ok(Outcome::Report(Report::new(findings)))
}
