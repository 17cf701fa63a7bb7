//! The shipped binary: configuration errors, first-start bootstrap and graceful shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_uit-portal");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, named) in [
        ("PORTAL_BIND", "not-an-address", "bind"),
        ("PORTAL_DATABASE_URL", "mysql://x", "database_url"),
        ("PORTAL_DATABASE_POOL_SIZE", "many", "database_pool_size"),
        ("PORTAL_MAIL_TRANSPORT", "pigeon", "mail_transport"),
        ("PORTAL_JWT_SECRET", "short", "jwt_secret"),
    ] {
        let out = Command::new(BIN)
            .env("PORTAL_DATA_DIR", dir.path())
            .env(var, value)
            .arg("serve")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{var}: message does not name {named}: {stderr}");
    }
    let out = Command::new(BIN)
        .env("PORTAL_DATA_DIR", dir.path())
        .env("PORTAL_NO_SUCH_SETTING", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "unknown settings are rejected");
}

#[test]
fn first_start_bootstraps_an_operator_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .env("PORTAL_DATA_DIR", dir.path())
        .env("PORTAL_BIND", format!("127.0.0.1:{port}"))
        .env("PORTAL_LOG_FORMAT", "json")
        .env("PORTAL_SHUTDOWN_TIMEOUT_SECONDS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let started = Instant::now();
    let ready = loop {
        if let Ok(r) = agent.get(&format!("http://127.0.0.1:{port}/readyz")).call() {
            break r.status().as_u16();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not ready within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ready, 200);

    let password_file = dir.path().join("bootstrap-admin-password.txt");
    let text = std::fs::read_to_string(&password_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let secret_mode = std::fs::metadata(dir.path().join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(secret_mode, 0o600);
    }
    let mut lines = text.lines();
    let (email, password) = (lines.next().unwrap(), lines.next().unwrap());
    let login = agent
        .post(&format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .send_json(serde_json::json!({ "email": email, "password": password }))
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("bootstrap-admin-password.txt"),
        "the password file path is logged"
    );
    assert!(!stderr.contains(password), "the password itself is never logged");
    assert!(stderr.lines().any(|l| l.starts_with('{')), "json logs");
    // A newcomer learns from the start-up log where the docs are; scripts find the port in the
    // same line (message `listening`, `.ci/fuzz.sh` and `.ci/client.sh` read it).
    let listening: serde_json::Value = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "listening")
        .expect("a `listening` line");
    assert_eq!(listening["port"], port);
    assert_eq!(listening["docs"], "http://localhost:8080/docs/", "{listening}");
}

#[test]
fn create_operator_makes_an_operator_with_a_generated_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .env("PORTAL_DATA_DIR", dir.path())
        .args([
            "create-operator",
            "--slug",
            "dcc",
            "--email",
            "Ops@Example.org",
            "--name",
            "DCC",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ops@example.org"));
    assert!(stdout.contains("password (shown once): "));
    let again = Command::new(BIN)
        .env("PORTAL_DATA_DIR", dir.path())
        .args(["create-operator", "--slug", "dcc", "--email", "other@example.org"])
        .output()
        .unwrap();
    assert!(!again.status.success(), "a duplicate slug is refused");
}

#[test]
fn seed_demo_and_seed_scale_load_data_the_api_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .env("PORTAL_DATA_DIR", dir.path())
            .env("PORTAL_BOOTSTRAP_PASSWORD", "bootstrap-password-1")
            .args(args)
            .output()
            .unwrap()
    };
    let demo = run(&["seed-demo"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let printed = String::from_utf8_lossy(&demo.stdout).to_string();
    assert!(printed.contains("admin@northern-lights.demo"));
    // The closing message names the open window and gives three first calls to try.
    assert!(printed.contains("open UIT window: UIT-2026-11"), "{printed}");
    assert!(printed.contains("/api/v1/auth/login"), "{printed}");
    assert!(
        printed.contains("/coverage") && printed.contains("/matrix"),
        "{printed}"
    );
    assert!(!run(&["seed-demo"]).status.success(), "a second demo load is refused");
    let scale = run(&[
        "seed-scale",
        "--device-models",
        "20",
        "--firmware",
        "100",
        "--device-sets",
        "300",
    ]);
    assert!(scale.status.success(), "{}", String::from_utf8_lossy(&scale.stderr));
    let report: serde_json::Value = serde_json::from_slice(&scale.stdout).unwrap();
    assert_eq!(report["device_sets"], 300);

    let mut server = Command::new(BIN)
        .env("PORTAL_DATA_DIR", dir.path())
        .env("PORTAL_BIND", format!("127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let started = Instant::now();
    while agent.get(&format!("{base}/readyz")).call().is_err() {
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(50));
    }
    let login: serde_json::Value = agent
        .post(&format!("{base}/api/v1/auth/login"))
        .send_json(serde_json::json!({ "email": "admin@thames-valley.demo", "password": "uit-demo-password" }))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let token = format!("Bearer {}", login["access_token"].as_str().unwrap());
    let get = |path: &str| -> serde_json::Value {
        agent
            .get(&format!("{base}{path}"))
            .header("authorization", &token)
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    };
    let windows = get("/api/v1/uit-windows?status=open");
    assert_eq!(windows["items"][0]["name"], "UIT-2026-11");
    // The demo window has activity to look at, shown by the usual visibility rules: Thames
    // Valley (a participant) sees the shared results and its own, not Northern Lights' private one.
    let window = windows["items"][0]["id"].as_str().unwrap();
    let results = get(&format!("/api/v1/results?uit_window_id={window}&limit=500"));
    let results = results["items"].as_array().unwrap();
    assert_eq!(results.len(), 15, "16 results, one private to another organisation");
    assert!(results.iter().all(|r| r["visibility"] != "private"));
    assert!(results
        .iter()
        .any(|r| r["outcome"] == "fail" && !r["defect_mask_ids"].as_array().unwrap().is_empty()));
    assert_eq!(get("/api/v1/defect-masks")["items"].as_array().unwrap().len(), 2);
    assert_eq!(get("/api/v1/library-contacts")["items"].as_array().unwrap().len(), 3);
    let roadmap = get("/api/v1/roadmap-items");
    assert_eq!(
        roadmap["items"].as_array().unwrap().len(),
        2,
        "the private item is its owner's"
    );
    let matrix = get(&format!("/api/v1/uit-windows/{window}/matrix"));
    assert!(matrix.to_string().contains("known_issue"), "{matrix}");
    let busiest = report["busiest_firmware_id"].as_str().unwrap();
    let sets = get(&format!("/api/v1/device-sets?firmware_id={busiest}&limit=500"));
    assert_eq!(
        sets["items"].as_array().unwrap().len() as u64,
        report["busiest_firmware_sets"].as_u64().unwrap()
    );
    let hubs = get("/api/v1/device-models?device_type=CHF&limit=500");
    assert!(hubs["items"].as_array().unwrap().len() >= 2);
    let _ = server.kill();
    let _ = server.wait();
}
