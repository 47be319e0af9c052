//! A small WebDriver client (W3C protocol over HTTP on 127.0.0.1) for headless Debian chromium
//! through chromedriver: start, navigate, run a script, pointer actions, click, screenshot.

use base64::Engine as _;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the browser and its driver are, or why they cannot be used.
pub struct Browser {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Browser {
    /// Finds chromium and chromedriver: `$GPU_MLP_CHROMIUM` / `$GPU_MLP_CHROMEDRIVER`, else the
    /// usual names on `$PATH`.
    pub fn find() -> Result<Self, String> {
        let chromium = from_env_or_path(
            "GPU_MLP_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        )
        .ok_or(
            "no chromium found (apt-get install chromium chromium-driver, or set GPU_MLP_CHROMIUM)",
        )?;
        let chromedriver = from_env_or_path("GPU_MLP_CHROMEDRIVER", &["chromedriver"]).ok_or(
            "no chromedriver found (apt-get install chromium-driver, or set GPU_MLP_CHROMEDRIVER)",
        )?;
        Ok(Self {
            chromium,
            chromedriver,
        })
    }
}

fn from_env_or_path(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&dirs)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A running chromedriver with one headless chromium session. Dropping it ends both.
pub struct Session {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    id: String,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

impl Session {
    /// Starts chromedriver on a free loopback port and opens a headless session with a fresh
    /// profile and a `width × height` window.
    pub fn start(browser: &Browser, width: u32, height: u32) -> Result<Self, String> {
        let profile = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let log = profile.path().join("chromedriver.log");
        let port = free_port()?;
        let driver = Command::new(&browser.chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", browser.chromedriver.display()))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut session = Self {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            id: String::new(),
            log,
            _profile: profile,
        };
        session.wait_for_driver()?;
        let user_data = session._profile.path().join("profile");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--force-device-scale-factor=1".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", user_data.display()),
        ];
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": browser.chromium.to_string_lossy(),
                    "args": args,
                }
            }}
        });
        let value = session.command("POST", "/session", Some(capabilities))?;
        session.id = value["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {value}"))?
            .to_string();
        Ok(session)
    }

    fn wait_for_driver(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(value) = self.command("GET", "/status", None) {
                if value["ready"].as_bool() == Some(true) {
                    return Ok(());
                }
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                return Err(format!("chromedriver exited at start ({status})"));
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not become ready in 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One WebDriver command; returns its `value`, or the driver's error message.
    pub fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json; charset=utf-8")
                .send(body.unwrap_or_else(|| json!({})).to_string().as_bytes()),
        };
        let mut response = response.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| format!("{method} {path}: unreadable reply: {e}"))?;
        let reply: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{method} {path}: reply is not JSON: {e}"))?;
        let value = reply.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 {
            return Err(format!(
                "{method} {path}: {} ({})",
                value["error"].as_str().unwrap_or("error"),
                value["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(value)
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    pub fn navigate(&self, url: &str) -> Result<(), String> {
        self.command(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        )
        .map(|_| ())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub fn execute(&self, script: &str, args: Value) -> Result<Value, String> {
        self.command(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Polls `script` until it returns something other than `null`/`false`.
    pub fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.execute(script, json!([]))?;
            if !(value.is_null() || value == Value::Bool(false)) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(format!("timed out after {timeout:?} waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Draws `strokes` (each a polyline in viewport pixels) with a pointer of `pointer_type`
    /// (`mouse`, `pen` or `touch`): down at the first point, moves through the rest, up.
    pub fn draw(&self, pointer_type: &str, strokes: &[Vec<(f64, f64)>]) -> Result<(), String> {
        for stroke in strokes {
            let Some(&(x0, y0)) = stroke.first() else {
                continue;
            };
            let mut actions = vec![
                json!({"type": "pointerMove", "duration": 0, "origin": "viewport",
                       "x": x0.round() as i64, "y": y0.round() as i64}),
                json!({"type": "pointerDown", "button": 0}),
            ];
            for &(x, y) in &stroke[1..] {
                actions.push(
                    json!({"type": "pointerMove", "duration": 16, "origin": "viewport",
                                    "x": x.round() as i64, "y": y.round() as i64}),
                );
            }
            actions.push(json!({"type": "pointerUp", "button": 0}));
            let body = json!({ "actions": [{
                "type": "pointer",
                "id": format!("{pointer_type}-pointer"),
                "parameters": { "pointerType": pointer_type },
                "actions": actions,
            }]});
            self.command("POST", &self.session_path("/actions"), Some(body))?;
        }
        self.command("DELETE", &self.session_path("/actions"), None)
            .map(|_| ())
    }

    /// Clicks the element `css` selects.
    pub fn click(&self, css: &str) -> Result<(), String> {
        let found = self.command(
            "POST",
            &self.session_path("/element"),
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no element reference for {css} in {found}"))?
            .to_string();
        self.command(
            "POST",
            &self.session_path(&format!("/element/{id}/click")),
            None,
        )
        .map(|_| ())
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Result<Vec<u8>, String> {
        let value = self.command("GET", &self.session_path("/screenshot"), None)?;
        let encoded = value.as_str().ok_or("the screenshot is not a string")?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("the screenshot is not base64: {e}"))
    }

    /// The last lines of chromedriver's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.id.is_empty() {
            let _ = self.command("DELETE", &self.session_path(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
