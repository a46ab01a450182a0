//! `serve --tls-cert --tls-key`: HTTPS and WSS straight from the real binary, with certificates
//! made by the test (rcgen). REST and chat over TLS, a plain-HTTP client on the TLS port, the
//! certificate reloaded by SIGHUP (and kept when the new files are bad), the usage and file errors,
//! and a client that never finishes its handshake.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

mod common;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::{tungstenite::Message, Connector};

/// A self-signed certificate for `localhost`: (certificate PEM, key PEM, certificate DER).
fn certificate() -> (String, String, Vec<u8>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem(), made.cert.der().to_vec())
}

/// A new certificate as `cert.pem` and `key.pem` in `dir`; returns the certificate's DER.
fn certificate_files(dir: &Path) -> Vec<u8> {
    let (cert, key, der) = certificate();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    der
}

/// A TLS connection to `addr` as `localhost`, trusting only `trusted`.
async fn tls_connect(
    addr: std::net::SocketAddr,
    trusted: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(client_config(trusted))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn client_config(trusted: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for der in trusted {
        roots.add(CertificateDer::from(der.to_vec())).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A running `chatterbox serve` over TLS; killed when dropped.
struct Daemon {
    child: Child,
    addr: std::net::SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = common::cli::chatterbox();
    cmd.arg("--db").arg(dir.join("chat.db")).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--bcrypt-cost",
        "4",
        "--rate-limit-off",
    ]);
    cmd.args(extra).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let mut cmd = serve(dir, &[]);
        cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        let mut child = cmd.spawn().expect("start chatterbox serve");
        let (log, rx) = common::drain_log(child.stderr.take().unwrap());
        let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the daemon did not listen:\n{}", log.lock().unwrap())
        });
        assert!(log.lock().unwrap().contains("listening on https://"), "{}", log.lock().unwrap());
        Daemon { child, addr: addr.parse().unwrap(), log }
    }

    fn https(&self, trusted: &[u8]) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_der(trusted).unwrap())
            .resolve("localhost", self.addr)
            .build()
            .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn hangup(&self) {
        let status = Command::new("kill").arg("-HUP").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits until the log has `count` lines containing `text`.
    fn wait_log(&self, text: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.log.lock().unwrap().matches(text).count() < count {
            assert!(Instant::now() < deadline, "no {text:?} in the log:\n{}", self.log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The certificate a new TLS connection is served.
    async fn served_certificate(&self, trusted: &[&[u8]]) -> Vec<u8> {
        let tls = tls_connect(self.addr, trusted).await.unwrap();
        tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }
}

async fn register(client: &reqwest::Client, daemon: &Daemon, name: &str) -> String {
    let body =
        json!({ "username": name, "email": format!("{name}@example.com"), "password": common::PASSWORD });
    let resp = client.post(daemon.url("/register")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201, "register {name}");
    let login = json!({ "username": name, "password": common::PASSWORD });
    let resp = client.post(daemon.url("/login")).json(&login).send().await.unwrap();
    assert_eq!(resp.status(), 200, "login {name}");
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

type Wss = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A chat WebSocket over TLS, as a browser on `https://localhost` opens it (with its Origin).
async fn wss(daemon: &Daemon, token: &str, trusted: &[u8]) -> Wss {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("wss://localhost:{}/ws?token={token}", daemon.addr.port());
    let mut req = url.into_client_request().unwrap();
    let origin = format!("https://localhost:{}", daemon.addr.port());
    req.headers_mut().insert("origin", origin.parse().unwrap());
    let tcp = TcpStream::connect(daemon.addr).await.unwrap();
    let connector = Connector::Rustls(client_config(&[trusted]));
    let (ws, _) =
        tokio_tungstenite::client_async_tls_with_config(req, tcp, None, Some(connector)).await.unwrap();
    ws
}

/// Sends `text` and waits for its echo.
async fn chat(ws: &mut Wss, text: &str) {
    ws.send(Message::text(json!({ "type": "message", "text": text }).to_string())).await.unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the echo within 30 s")
            .expect("an open socket")
            .unwrap();
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "message" && v["text"] == text {
                return;
            }
            assert!(v["type"] != "error", "{text:?} refused: {v}");
        }
    }
}

#[tokio::test]
async fn https_and_wss_work_and_plain_http_on_the_tls_port_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let der = certificate_files(dir.path());
    let daemon = Daemon::start(dir.path());
    let client = daemon.https(&der);
    let token = register(&client, &daemon, "alice").await;
    let mut ws = wss(&daemon, &token, &der).await;
    chat(&mut ws, "hello over wss").await;

    // Plain HTTP to the TLS port: the connection ends (a TLS alert at most), nothing is served.
    let mut plain = TcpStream::connect(daemon.addr).await.unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the plain connection was not closed");
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"), "served plain HTTP: {answer:?}");

    // Everyone else carries on.
    chat(&mut ws, "still here").await;
    let health = client.get(daemon.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let messages: Value =
        client.get(daemon.url("/messages")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let texts: Vec<&str> = messages.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello over wss", "still here"]);
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_a_bad_one_is_not_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (cert1, key1, der1) = certificate();
    let (cert2, key2, der2) = certificate();
    std::fs::write(dir.path().join("cert.pem"), &cert1).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key1).unwrap();
    let daemon = Daemon::start(dir.path());
    let both: [&[u8]; 2] = [&der1, &der2];
    assert_eq!(daemon.served_certificate(&both).await, der1);
    // A chat open across the reload keeps going.
    let token = register(&daemon.https(&der1), &daemon, "bob").await;
    let mut ws = wss(&daemon, &token, &der1).await;

    std::fs::write(dir.path().join("cert.pem"), &cert2).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key2).unwrap();
    daemon.hangup();
    daemon.wait_log("reloaded the TLS certificate", 1);
    assert_eq!(daemon.served_certificate(&both).await, der2, "a new connection gets the new certificate");
    chat(&mut ws, "across the reload").await;

    // A renewal caught half-way: a key that is not the certificate's, then a file that is no PEM.
    std::fs::write(dir.path().join("key.pem"), &key1).unwrap();
    daemon.hangup();
    daemon.wait_log("kept the previous TLS certificate", 1);
    assert!(daemon.log.lock().unwrap().contains("is not the key of the certificate"));
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    daemon.hangup();
    daemon.wait_log("kept the previous TLS certificate", 2);
    assert_eq!(daemon.served_certificate(&both).await, der2, "the last good certificate stays");
    let health = daemon.https(&der2).get(daemon.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    chat(&mut ws, "after the bad reloads").await;
}

#[test]
fn tls_flags_come_in_pairs_and_bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert1, key1, _) = certificate();
    let (_, key2, _) = certificate();
    let files = [("cert.pem", cert1.as_str()), ("key.pem", key1.as_str()), ("other-key.pem", key2.as_str())];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("junk.pem"), "hello").unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let cases: [(Vec<String>, i32, &str); 5] = [
        (vec!["--tls-cert".into(), p("cert.pem")], 2, "--tls-key"),
        (
            vec!["--tls-cert".into(), p("missing.pem"), "--tls-key".into(), p("key.pem")],
            1,
            "cannot read the TLS certificate",
        ),
        (vec!["--tls-cert".into(), p("junk.pem"), "--tls-key".into(), p("key.pem")], 1, "no PEM certificate"),
        (
            vec!["--tls-cert".into(), p("cert.pem"), "--tls-key".into(), p("junk.pem")],
            1,
            "no usable PEM private key",
        ),
        (
            vec!["--tls-cert".into(), p("cert.pem"), "--tls-key".into(), p("other-key.pem")],
            1,
            "is not the key of the certificate",
        ),
    ];
    for (args, code, says) in cases {
        let mut cmd = serve(dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.stderr(Stdio::piped());
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// A client that opens a TCP connection and never starts the handshake holds its address's slot
/// only until the handshake timeout; meanwhile it counts against the per-address cap.
#[tokio::test]
async fn a_stalled_handshake_holds_its_slot_only_until_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let der = certificate_files(dir.path());
    let tls = chatterbox::tls::Tls::load(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).unwrap();
    let mut opts = common::Options { postgres: false, ..common::Options::default() };
    opts.server.tls = Some(tls);
    opts.server.max_connections_per_ip = 1;
    opts.server.header_timeout = Duration::from_secs(1);
    let server = common::start_with(opts).await;
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    // Its slot is taken: another connection from the address is closed unanswered.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tls_connect(server.addr, &[&der]).await;
    assert!(refused.is_err(), "a second connection from the address was admitted");
    // The stalled one is closed by the timeout, and the slot comes back.
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(30), stalled.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the stalled handshake was not closed: {closed:?}");
    // The slot is given back as the connection's task ends, just after the close: a few tries.
    let mut last = None;
    for _ in 0..50 {
        match tls_connect(server.addr, &[&der]).await {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(last.is_none(), "the slot did not come back: {last:?}");
    server.stop().await;
}
