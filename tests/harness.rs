//! Test harness: a private set of the template's resources in the AWS emulator, created by the
//! same bootstrap as `make dev`, plus AWS clients that count their requests and the Python
//! retell-sdk as a signing peer.
//!
//! The emulator is the one `make test` starts (`AWS_ENDPOINT_URL`); under a bare `cargo test`
//! each test binary starts its own from `.venv`, and without `.venv` the binary stops with one
//! line saying to run `make test`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;
use shared::platform::aws::AwsClients;
use shared::platform::config::Env;

pub mod cc_harness;
pub mod tool_harness;

pub const DEFAULT_KEY: &str = "key_test_default";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The project's Python (`make venv`): the emulator, the bootstrap and the retell-sdk peer.
/// Without it the test binary stops here with one line, not a panic per test.
pub fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    if !python.exists() {
        // Straight to stderr: the test harness captures `eprintln!`, and exit would lose it.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "integration tests need the AWS emulator and retell-sdk from .venv: run `make test` (it installs them)"
        );
        std::process::exit(2);
    }
    python
}

/// The emulator's URL: `AWS_ENDPOINT_URL` when `make test` started one, else a private one
/// started once for this test binary.
pub fn endpoint() -> String {
    static OWN: OnceLock<String> = OnceLock::new();
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => OWN.get_or_init(|| start_emulator(true).1).clone(),
    }
}

/// Starts `infra/local/aws_emulator.py` on a free port and waits until it listens. With
/// `follow_parent`, the emulator exits when this test process does (a static is never dropped).
fn start_emulator(follow_parent: bool) -> (std::process::Child, String) {
    let port = free_port();
    let emulator = repo_root().join("infra/local/aws_emulator.py");
    let mut command = if follow_parent {
        let mut c = Command::new("sh");
        c.args([
            "-c",
            r#""$1" "$2" -H 127.0.0.1 -p "$3" & child=$!; while kill -0 "$4" 2>/dev/null; do sleep 1; done; kill "$child""#,
            "emulator",
        ])
        .arg(python())
        .arg(&emulator)
        .arg(port.to_string())
        .arg(std::process::id().to_string());
        c
    } else {
        let mut c = Command::new(python());
        c.arg(&emulator)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        c
    };
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start infra/local/aws_emulator.py");
    wait_until_listening(port, "the emulator");
    (child, format!("http://127.0.0.1:{port}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits up to 30 s for a server started on `port`.
fn wait_until_listening(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Tests only ever talk to the emulator, which takes any credentials.
fn emulator_credentials() -> aws_sdk_dynamodb::config::Credentials {
    aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "emulator")
}

/// The resources of template.yaml, created once per test binary under a unique prefix.
pub struct Stack {
    pub description: Value,
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let prefix = format!(
            "it{}-{}-",
            std::process::id(),
            chrono::Utc::now().timestamp_millis() % 100_000
        );
        let out = Command::new(python())
            .arg(repo_root().join("infra/local/bootstrap.py"))
            .args(["--endpoint", &endpoint(), "--prefix", &prefix])
            .arg(format!("--param=RetellApiKey={DEFAULT_KEY}"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run infra/local/bootstrap.py (make test creates .venv)");
        assert!(out.status.success(), "bootstrap failed");
        Stack {
            description: serde_json::from_slice(&out.stdout).expect("bootstrap prints JSON"),
        }
    })
}

impl Stack {
    /// The environment template.yaml gives `function`, resolved to this stack's resources.
    pub fn env(&self, function: &str) -> Env {
        let vars = self.description["functions"][function]["env"]
            .as_object()
            .unwrap_or_else(|| panic!("no function {function} in template.yaml"));
        Env::from_map(
            vars.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        )
    }

    pub fn resource(&self, logical: &str, attr: &str) -> String {
        self.description["resources"][logical][attr]
            .as_str()
            .unwrap_or_else(|| panic!("no {logical}.{attr}"))
            .to_owned()
    }

    pub fn event_source(&self, function: &str) -> local_pump::EventSource {
        let sources: Vec<local_pump::EventSource> =
            serde_json::from_value(self.description["event_sources"].clone()).expect("sources");
        sources
            .into_iter()
            .find(|s| s.function == function)
            .unwrap_or_else(|| panic!("no event source for {function}"))
    }

    pub fn region(&self) -> String {
        self.description["region"]
            .as_str()
            .unwrap_or("eu-central-1")
            .to_owned()
    }
}

/// Records every request the SDK sends ("Service.Operation"), retries included.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// How many DynamoDB requests went out since the last take.
    pub fn take_dynamodb_count(&self) -> usize {
        self.take()
            .iter()
            .filter(|r| r.starts_with("DynamoDB"))
            .count()
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(meta), Ok(mut log)) = (cfg.load::<Metadata>(), self.0.lock()) {
            log.push(format!("{}.{}", meta.service(), meta.name()));
        }
        Ok(())
    }
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    shared::platform::aws::config_loader()
        .endpoint_url(endpoint())
        .credentials_provider(emulator_credentials())
        .region(aws_config::Region::new(stack().region()))
        .load()
        .await
}

pub async fn clients() -> AwsClients {
    AwsClients::from_sdk_config(&sdk_config().await)
}

/// Clients whose requests are all recorded in the returned log.
pub async fn counted_clients() -> (AwsClients, RequestLog) {
    let config = sdk_config().await;
    let log = RequestLog::default();
    let clients = AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(log.clone())
                .build(),
        ),
        sqs: shared::platform::aws::Lazy::ready(
            &config,
            aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&config)
                    .interceptor(log.clone())
                    .build(),
            ),
        ),
        s3: shared::platform::aws::Lazy::ready(
            &config,
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(true)
                    .interceptor(log.clone())
                    .build(),
            ),
        ),
        secrets: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&config)
                .interceptor(log.clone())
                .build(),
        ),
        sdk: config.clone(),
    };
    (clients, log)
}

/// Signs bodies with the official Python retell-sdk (`retell.lib.webhook_auth`).
pub fn sdk_sign(bodies: &[String], key: &str, timestamp_ms: i64) -> Vec<String> {
    let script = r#"
import json, sys
from retell.lib.webhook_auth import symmetric
key, ts = sys.argv[1], int(sys.argv[2])
print(json.dumps([symmetric["sign"](b, key, ts) for b in json.load(sys.stdin)]))
"#;
    let mut child = Command::new(python())
        .args(["-c", script, key, &timestamp_ms.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python with retell-sdk (make test creates .venv)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(serde_json::to_string(bodies).expect("json").as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("retell-sdk sign");
    assert!(out.status.success(), "retell-sdk sign failed");
    serde_json::from_slice(&out.stdout).expect("signatures")
}

/// Asks the Python retell-sdk whether it accepts a signature (now = its own clock).
pub fn sdk_verify(body: &str, key: &str, signature: &str) -> bool {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys; from retell.lib.webhook_auth import verify; print(verify(sys.stdin.read(), sys.argv[1], sys.argv[2]))",
            key,
            signature,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(body.as_bytes())?;
            }
            child.wait_with_output()
        })
        .expect("python with retell-sdk");
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A unique call id per test case.
pub fn call_id(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "call_{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A private AWS emulator for one test, which the test may freeze (SIGSTOP) to play a stalled
/// network or an AWS brown-out, as a Lambda sees it: connections open, no answers.
pub struct FreezableEmulator {
    child: std::process::Child,
    pub endpoint: String,
    pub stack: Stack,
}

impl FreezableEmulator {
    pub fn start() -> Self {
        // Its own process (not following the parent): SIGSTOP must reach the emulator itself.
        let (child, endpoint) = start_emulator(false);
        let out = Command::new(python())
            .arg(repo_root().join("infra/local/bootstrap.py"))
            .args(["--endpoint", &endpoint, "--prefix", "frozen-"])
            .arg(format!("--param=RetellApiKey={DEFAULT_KEY}"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run infra/local/bootstrap.py");
        assert!(out.status.success(), "bootstrap failed");
        Self {
            child,
            endpoint,
            stack: Stack {
                description: serde_json::from_slice(&out.stdout).expect("bootstrap prints JSON"),
            },
        }
    }

    /// Clients with the budget the Lambdas Retell waits on use.
    pub async fn clients(&self) -> AwsClients {
        let config = shared::platform::aws::budgeted_config_loader(
            shared::platform::aws::AwsBudget::CALLER_WAITING,
        )
        .endpoint_url(&self.endpoint)
        .credentials_provider(emulator_credentials())
        .region(aws_config::Region::new(self.stack.region()))
        .load()
        .await;
        AwsClients::from_sdk_config(&config)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }

    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }
}

impl Drop for FreezableEmulator {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The local Retell simulator (infra/local/retell_sim/) on a free port, for this test binary;
/// it exits with the test process.
pub struct RetellSimulator {
    /// The `sh` that stops the simulator when this test process ends (killing it would orphan
    /// the simulator, so it is left alone).
    _watch: std::process::Child,
    pub url: String,
    pub api_key: String,
}

impl RetellSimulator {
    pub fn start(api_key: &str) -> Self {
        Self::start_with(api_key, &[])
    }

    /// The simulator with the demo account (`infra/local/retell-seed.json`: the demo agents and
    /// their numbers).
    pub fn start_seeded(api_key: &str) -> Self {
        let seed = repo_root().join("infra/local/retell-seed.json");
        Self::start_with(api_key, &["--seed".to_owned(), seed.display().to_string()])
    }

    fn start_with(api_key: &str, extra: &[String]) -> Self {
        let port = free_port();
        let child = Command::new("sh")
            .args([
                "-c",
                r#"child_args="$6"; "$1" -m "$2" --port "$3" --api-key "$4" --retry-delay 0.1 $child_args & child=$!; while kill -0 "$5" 2>/dev/null; do sleep 1; done; kill "$child""#,
                "retell-sim",
            ])
            .arg(python())
            .arg("retell_sim")
            .arg(port.to_string())
            .arg(api_key)
            .arg(std::process::id().to_string())
            .arg(extra.join(" "))
            .env("PYTHONPATH", repo_root().join("infra/local"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Retell simulator (python -m retell_sim)");
        wait_until_listening(port, "the Retell simulator");
        Self {
            _watch: child,
            url: format!("http://127.0.0.1:{port}"),
            api_key: api_key.to_owned(),
        }
    }

    /// POST to one of the simulator's own `/sim/...` endpoints.
    pub async fn control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.post(path, body, false).await
    }

    /// GET one of the simulator's own `/sim/...` endpoints.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        let response = reqwest_client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("simulator answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("simulator JSON")
    }

    /// A request to the simulated Retell API itself, with the account's key.
    pub async fn api_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.post(path, body, true).await
    }

    async fn post(&self, path: &str, body: serde_json::Value, keyed: bool) -> serde_json::Value {
        let mut request = reqwest_client()
            .post(format!("{}{path}", self.url))
            .json(&body);
        if keyed {
            request = request.bearer_auth(&self.api_key);
        }
        let response = request.send().await.expect("simulator answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("simulator JSON")
    }
}

fn reqwest_client() -> reqwest::Client {
    shared::platform::http::client_builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("client")
}
