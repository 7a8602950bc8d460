//! The Hub layer end to end: the `entprog` binary, run as a subprocess with
//! `HF_HOME` in a temporary folder and `HF_ENDPOINT` at a Hub this test
//! starts on 127.0.0.1, speaking the protocol `hf-hub` 0.5 and entprog use
//! (the info endpoint `/api/{models,datasets}/<repo>/revision/<rev>`,
//! `resolve/` with `Range: bytes=0-0`, `X-Repo-Commit`, `ETag` /
//! `X-Linked-Etag`, `X-Linked-Size`, absolute redirects of LFS files to
//! storage and relative redirects of renamed repositories, `Range:
//! bytes=N-` resumes, `X-Error-Code`). The server answers connections one at
//! a time and stops when dropped (or after five minutes); nothing reaches an
//! address outside loopback.
//!
//! Submodules: `server` (the fake Hub), `cli` (running the binary), then
//! the cases: pulls and offline use, broken downloads, errors, datasets and
//! revisions, tokens, and `train.init_from` from the Hub.

use std::path::{Path, PathBuf};

use sha1::{Digest as _, Sha1};
use sha2::Sha256;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The git blob id of `bytes` (what the Hub sends as a git file's ETag).
fn git_blob(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

/// A commit sha made from a label.
fn commit(label: &str) -> String {
    hex(&Sha1::digest(label.as_bytes()))
}

/// Bytes that do not compress or repeat.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

mod server {
    //! A fake Hub on 127.0.0.1.

    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use super::{git_blob, sha256};

    #[derive(Clone)]
    pub struct File {
        pub path: String,
        pub bytes: Vec<u8>,
        /// Kept in LFS: resolved by a redirect to storage, ETag = sha256.
        pub lfs: bool,
    }

    #[derive(Clone)]
    pub struct Commit {
        pub sha: String,
        pub files: Vec<File>,
    }

    #[derive(Clone)]
    pub struct Repo {
        /// `models` or `datasets`.
        pub kind: &'static str,
        pub id: String,
        /// Branch, tag or `refs/pr/N` -> commit sha.
        pub refs: Vec<(String, String)>,
        pub commits: Vec<Commit>,
        /// Answer only requests with `Authorization: Bearer <token>`.
        pub token: Option<String>,
    }

    /// How storage answers the next body downloads (not the `bytes=0-0` probes).
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Fault {
        None,
        /// A `Content-Length` of half the file, and half the file.
        Truncate,
        /// The whole length, one byte flipped.
        Corrupt,
        /// The whole length announced, half sent, then the connection closed.
        Drop,
    }

    #[derive(Default)]
    struct State {
        repos: Vec<Repo>,
        /// Old repo id -> new one (answered with relative redirects).
        renamed: HashMap<String, String>,
        fault: Option<Fault>,
        log: Vec<String>,
    }

    pub struct Server {
        pub url: String,
        state: Arc<Mutex<State>>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        pub fn start(repos: Vec<Repo>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let state = Arc::new(Mutex::new(State {
                repos,
                ..State::default()
            }));
            let stop = Arc::new(AtomicBool::new(false));
            let (s, st, base) = (state.clone(), stop.clone(), url.clone());
            let thread = std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(300);
                while !st.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &s, &base),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2))
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
            });
            Server {
                url,
                state,
                stop,
                thread: Some(thread),
            }
        }

        pub fn set_fault(&self, f: Fault) {
            self.state.lock().unwrap().fault = Some(f);
        }

        pub fn rename(&self, old: &str, new: &str) {
            self.state.lock().unwrap().renamed.insert(old.into(), new.into());
        }

        /// Points `name` of repository `id` at `sha`, adding the commit when given.
        pub fn move_ref(&self, id: &str, name: &str, sha: &str, commit: Option<Commit>) {
            let mut s = self.state.lock().unwrap();
            let repo = s.repos.iter_mut().find(|r| r.id == id).unwrap();
            repo.refs.retain(|(n, _)| n != name);
            repo.refs.push((name.into(), sha.into()));
            repo.commits.extend(commit);
        }

        /// `"<method> <path> [range]"` of every request so far.
        pub fn requests(&self) -> Vec<String> {
            self.state.lock().unwrap().log.clone()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                t.join().unwrap();
            }
        }
    }

    struct Request {
        method: String,
        path: String,
        headers: HashMap<String, String>,
    }

    enum Body {
        Whole(Vec<u8>),
        Faulty(Vec<u8>, Fault),
    }

    struct Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Body,
    }

    impl Response {
        fn new(status: u16) -> Self {
            Response {
                status,
                headers: Vec::new(),
                body: Body::Whole(Vec::new()),
            }
        }
        fn header(mut self, k: &str, v: impl Into<String>) -> Self {
            self.headers.push((k.into(), v.into()));
            self
        }
        fn error(status: u16, code: &str) -> Self {
            Response {
                body: Body::Whole(format!("{{\"error\": \"{code}\"}}").into_bytes()),
                ..Response::new(status).header("X-Error-Code", code)
            }
        }
    }

    fn serve(stream: TcpStream, state: &Mutex<State>, base: &str) {
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let Some(req) = read_request(&stream) else { return };
        let response = {
            let mut s = state.lock().unwrap();
            let range = req.headers.get("range").cloned().unwrap_or_default();
            s.log
                .push(format!("{} {} {range}", req.method, req.path).trim_end().to_string());
            route(&req, &s, base)
        };
        write_response(stream, response);
    }

    fn read_request(stream: &TcpStream) -> Option<Request> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        Some(Request { method, path, headers })
    }

    fn write_response(mut stream: TcpStream, r: Response) {
        let reason = match r.status {
            200 => "OK",
            206 => "Partial Content",
            302 => "Found",
            307 => "Temporary Redirect",
            401 => "Unauthorized",
            _ => "Not Found",
        };
        let (bytes, announced, cut) = match r.body {
            Body::Whole(b) => {
                let n = b.len();
                (b, n, n)
            }
            Body::Faulty(mut b, fault) => {
                let n = b.len();
                match fault {
                    Fault::None => (b, n, n),
                    Fault::Truncate => (b, n / 2, n / 2),
                    Fault::Corrupt => {
                        b[n / 2] ^= 0xff;
                        (b, n, n)
                    }
                    Fault::Drop => (b, n, n / 2),
                }
            }
        };
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", r.status);
        for (k, v) in &r.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {announced}\r\nConnection: close\r\n\r\n"));
        // The client may close early (it read what it needed); that is not the test's concern.
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&bytes[..cut]);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    fn decode(s: &str) -> String {
        s.replace("%2F", "/").replace("%2f", "/")
    }

    fn route(req: &Request, s: &State, base: &str) -> Response {
        let path = req.path.split('?').next().unwrap_or_default();
        let range = req.headers.get("range").map(String::as_str);
        if let Some(sha) = path.strip_prefix("/cdn/") {
            let file = s
                .repos
                .iter()
                .flat_map(|r| r.commits.iter().flat_map(|c| c.files.iter()))
                .find(|f| sha256(&f.bytes) == sha);
            let Some(file) = file else {
                return Response::error(404, "EntryNotFound");
            };
            let probe = range == Some("bytes=0-0");
            let fault = if probe {
                Fault::None
            } else {
                s.fault.unwrap_or(Fault::None)
            };
            return ranged(&file.bytes, range, fault);
        }
        let (kind, rest, api) = if let Some(r) = path.strip_prefix("/api/models/") {
            ("models", r, true)
        } else if let Some(r) = path.strip_prefix("/api/datasets/") {
            ("datasets", r, true)
        } else if let Some(r) = path.strip_prefix("/datasets/") {
            ("datasets", r, false)
        } else {
            ("models", path.trim_start_matches('/'), false)
        };
        let segs: Vec<&str> = rest.splitn(4, '/').collect();
        let verb = if api { "revision" } else { "resolve" };
        if segs.len() < 4 || segs[2] != verb {
            return Response::error(404, "NotFound");
        }
        let id = format!("{}/{}", segs[0], segs[1]);
        let (rev, file) = if api {
            (decode(segs[3]), None)
        } else {
            let (r, f) = segs[3].split_once('/').unwrap_or((segs[3], ""));
            (decode(r), Some(f.to_string()))
        };
        if let Some(new) = s.renamed.get(&id) {
            let prefix = if kind == "datasets" { "/datasets" } else { "" };
            let to = if api {
                format!("/api/{kind}/{new}/revision/{}", segs[3])
            } else {
                format!("{prefix}/{new}/resolve/{}", segs[3])
            };
            return Response::new(307).header("Location", to);
        }
        let Some(repo) = s.repos.iter().find(|r| r.kind == kind && r.id == id) else {
            return Response::error(401, "RepoNotFound");
        };
        if let Some(t) = &repo.token {
            if req.headers.get("authorization") != Some(&format!("Bearer {t}")) {
                return Response::error(401, "RepoNotFound");
            }
        }
        let sha = repo
            .refs
            .iter()
            .find(|(n, _)| *n == rev)
            .map(|(_, c)| c.clone())
            .or_else(|| repo.commits.iter().any(|c| c.sha == rev).then(|| rev.clone()));
        let Some(sha) = sha else {
            return Response::error(404, "RevisionNotFound");
        };
        let commit = repo.commits.iter().find(|c| c.sha == sha).unwrap();
        let Some(file) = file else { return info(repo, commit) };
        let Some(f) = commit.files.iter().find(|f| f.path == file) else {
            return Response::error(404, "EntryNotFound");
        };
        if f.lfs {
            let digest = sha256(&f.bytes);
            Response::new(302)
                .header("Location", format!("{base}/cdn/{digest}"))
                .header("X-Repo-Commit", &sha)
                .header("X-Linked-Etag", format!("\"{digest}\""))
                .header("X-Linked-Size", f.bytes.len().to_string())
                .header("ETag", format!("\"{}\"", git_blob(b"pointer")))
        } else {
            ranged(&f.bytes, range, Fault::None)
                .header("X-Repo-Commit", &sha)
                .header("ETag", format!("\"{}\"", git_blob(&f.bytes)))
        }
    }

    fn info(repo: &Repo, commit: &super::server::Commit) -> Response {
        let siblings: Vec<String> = commit
            .files
            .iter()
            .map(|f| {
                let lfs = if f.lfs {
                    format!(
                        ", \"lfs\": {{\"sha256\": \"{}\", \"size\": {}, \"pointerSize\": 134}}",
                        sha256(&f.bytes),
                        f.bytes.len()
                    )
                } else {
                    String::new()
                };
                format!(
                    "{{\"rfilename\": \"{}\", \"size\": {}, \"blobId\": \"{}\"{lfs}}}",
                    f.path,
                    f.bytes.len(),
                    git_blob(&f.bytes)
                )
            })
            .collect();
        let json = format!(
            "{{\"id\": \"{}\", \"sha\": \"{}\", \"private\": false, \"siblings\": [{}]}}",
            repo.id,
            commit.sha,
            siblings.join(", ")
        );
        Response {
            body: Body::Whole(json.into_bytes()),
            ..Response::new(200).header("Content-Type", "application/json")
        }
    }

    /// `bytes` whole (200), or the range asked for (206 with `Content-Range`).
    fn ranged(bytes: &[u8], range: Option<&str>, fault: Fault) -> Response {
        let n = bytes.len();
        let Some(spec) = range.and_then(|r| r.strip_prefix("bytes=")) else {
            return Response {
                body: Body::Faulty(bytes.to_vec(), fault),
                ..Response::new(200)
            };
        };
        let (a, b) = spec.split_once('-').unwrap();
        let a: usize = a.parse().unwrap();
        let b: usize = if b.is_empty() { n - 1 } else { b.parse().unwrap() };
        Response {
            body: Body::Faulty(bytes[a..=b.min(n - 1)].to_vec(), fault),
            ..Response::new(206).header("Content-Range", format!("bytes {a}-{b}/{n}"))
        }
    }
}

mod cli {
    //! The binary with a Hub environment of the test's choosing.

    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    pub struct Env {
        pub home: PathBuf,
        pub endpoint: String,
        pub offline: bool,
        pub token: Option<String>,
    }

    pub struct Run {
        pub code: i32,
        pub stdout: String,
        pub stderr: String,
    }

    impl Env {
        pub fn new(home: &Path, endpoint: &str) -> Self {
            Env {
                home: home.to_path_buf(),
                endpoint: endpoint.to_string(),
                offline: false,
                token: None,
            }
        }

        pub fn offline(&self) -> Self {
            Env {
                offline: true,
                token: self.token.clone(),
                ..Env::new(&self.home, &self.endpoint)
            }
        }

        pub fn run(&self, args: &[&str], cwd: &Path) -> Run {
            let mut c = Command::new(env!("CARGO_BIN_EXE_entprog"));
            c.args(args).current_dir(cwd);
            for k in [
                "HF_HUB_CACHE",
                "HF_TOKEN",
                "HF_TOKEN_PATH",
                "XDG_CACHE_HOME",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "ALL_PROXY",
                "http_proxy",
                "https_proxy",
                "all_proxy",
            ] {
                c.env_remove(k);
            }
            c.env("HF_HOME", &self.home)
                .env("HF_ENDPOINT", &self.endpoint)
                .env("HF_HUB_OFFLINE", if self.offline { "1" } else { "0" });
            if let Some(t) = &self.token {
                c.env("HF_TOKEN", t);
            }
            let Output { status, stdout, stderr } = c.output().unwrap();
            Run {
                code: status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            }
        }
    }

    impl Run {
        /// Asserts success; returns stdout.
        pub fn ok(self) -> String {
            assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
            self.stdout
        }

        /// Asserts exit 2 with one `error:` line on stderr; returns that line.
        pub fn fails(self) -> String {
            assert_eq!(self.code, 2, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
            let lines: Vec<&str> = self
                .stderr
                .lines()
                .filter(|l| !l.starts_with("hub: downloading"))
                .collect();
            assert_eq!(lines.len(), 1, "one line: {}", self.stderr);
            assert!(lines[0].starts_with("error: "), "{}", lines[0]);
            lines[0].to_string()
        }
    }
}

use cli::Env;
use server::{Commit, Fault, File, Repo, Server};

/// `org/tiny` at `main` = commit "c1": a config, an LFS weights file, a nested file.
fn tiny_model(weights: &[u8]) -> Repo {
    let c1 = commit("c1");
    Repo {
        kind: "models",
        id: "org/tiny".into(),
        refs: vec![("main".into(), c1.clone())],
        commits: vec![Commit {
            sha: c1,
            files: vec![
                File {
                    path: "config.json".into(),
                    bytes: b"{\"preset\": \"tiny\"}\n".to_vec(),
                    lfs: false,
                },
                File {
                    path: "model.safetensors".into(),
                    bytes: weights.to_vec(),
                    lfs: true,
                },
                File {
                    path: "docs/README.md".into(),
                    bytes: b"# tiny\n".to_vec(),
                    lfs: false,
                },
            ],
        }],
        token: None,
    }
}

fn repo_dir(home: &Path) -> PathBuf {
    home.join("hub").join("models--org--tiny")
}

/// Parses `pull`'s two lines: the local path and `commit <sha>`.
fn pulled(stdout: &str) -> (PathBuf, String) {
    let mut lines = stdout.lines();
    let path = PathBuf::from(lines.next().expect("a path line"));
    let sha = lines
        .next()
        .and_then(|l| l.strip_prefix("commit "))
        .expect("a commit line");
    (path, sha.to_string())
}

mod pulls {
    //! A model repository pulled, listed, and served offline with the server stopped.

    use super::*;

    #[test]
    fn a_pulled_file_is_linked_from_its_commit_and_served_offline_once_the_server_is_gone() {
        let home = tempfile::tempdir().unwrap();
        let weights = noise(300_000, 1);
        let server = Server::start(vec![tiny_model(&weights)]);
        let env = Env::new(home.path(), &server.url);
        let (path, sha) = pulled(
            &env.run(&["hub", "pull", "hf://org/tiny/model.safetensors"], home.path())
                .ok(),
        );
        assert_eq!(sha, commit("c1"));
        let repo = repo_dir(home.path());
        assert_eq!(path, repo.join("snapshots").join(&sha).join("model.safetensors"));
        assert_eq!(std::fs::read(&path).unwrap(), weights);
        assert_eq!(
            std::fs::read_link(&path).unwrap(),
            Path::new("../../blobs").join(sha256(&weights)),
            "a relative link into blobs/, named by the LFS sha256"
        );
        assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), sha);
        let resolves = server.requests();
        assert!(
            resolves
                .iter()
                .any(|r| r.starts_with("GET /api/models/org/tiny/revision/main")),
            "{resolves:?}"
        );
        assert!(
            resolves
                .iter()
                .any(|r| r.starts_with(&format!("GET /org/tiny/resolve/{sha}/model.safetensors bytes=0-0"))),
            "the file is resolved at the commit, not the branch: {resolves:?}"
        );

        // The whole repository: every file, git files by their blob id.
        let (snapshot, _) = pulled(&env.run(&["hub", "pull", "hf://org/tiny"], home.path()).ok());
        assert_eq!(snapshot, repo.join("snapshots").join(&sha));
        assert_eq!(
            std::fs::read_to_string(snapshot.join("docs/README.md")).unwrap(),
            "# tiny\n"
        );
        let listing = env.run(&["hub", "ls", "org/tiny"], home.path()).ok();
        assert!(
            listing.starts_with(&format!("hf://org/tiny@main commit {sha}\n")),
            "{listing}"
        );
        assert!(listing.contains("300000  model.safetensors  lfs"), "{listing}");
        assert!(listing.contains("docs/README.md"), "{listing}");
        let downloads = server
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET /cdn/") && !r.ends_with("0-0"))
            .count();
        assert_eq!(downloads, 1, "the weights were downloaded once");

        drop(server);
        let offline = env.offline();
        let again = pulled(
            &offline
                .run(&["hub", "pull", "hf://org/tiny/model.safetensors"], home.path())
                .ok(),
        );
        assert_eq!(again, (path, sha.clone()));
        let listing = offline.run(&["hub", "ls", "org/tiny"], home.path()).ok();
        assert!(listing.contains("300000  model.safetensors"), "{listing}");
        let missing = offline
            .run(&["hub", "pull", "hf://org/tiny@v2/model.safetensors"], home.path())
            .fails();
        assert!(
            missing.contains(
                "hf://org/tiny@v2/model.safetensors: HF_HUB_OFFLINE is set and the cache has no revision `v2`"
            ),
            "{missing}"
        );
        let missing = offline
            .run(&["hub", "pull", "hf://org/tiny/other.bin"], home.path())
            .fails();
        assert!(
            missing.contains(&format!("file `other.bin` at commit {sha}")),
            "{missing}"
        );
        let unreachable = env
            .run(&["hub", "pull", "hf://org/tiny/model.safetensors"], home.path())
            .fails();
        assert!(unreachable.contains(&server_url_of(&env)), "{unreachable}");
    }

    fn server_url_of(env: &Env) -> String {
        env.endpoint.clone()
    }
}

mod broken_downloads {
    //! Truncated, corrupted and dropped bodies: detected, nothing in snapshots/.

    use super::*;

    fn nothing_trusted(home: &Path, weights: &[u8]) {
        let repo = repo_dir(home);
        let snapshot = repo.join("snapshots").join(commit("c1")).join("model.safetensors");
        assert!(std::fs::symlink_metadata(&snapshot).is_err(), "no snapshot entry");
        assert!(
            !repo.join("blobs").join(sha256(weights)).exists(),
            "no blob under its name"
        );
    }

    fn broken(fault: Fault, expect: &str) -> (tempfile::TempDir, Server, Vec<u8>) {
        let home = tempfile::tempdir().unwrap();
        let weights = noise(200_000, 2);
        let server = Server::start(vec![tiny_model(&weights)]);
        server.set_fault(fault);
        let env = Env::new(home.path(), &server.url);
        let line = env
            .run(&["hub", "pull", "hf://org/tiny/model.safetensors"], home.path())
            .fails();
        assert!(line.contains("model.safetensors"), "{line}");
        assert!(line.contains(expect), "{fault:?}: {line}");
        assert!(line.contains("nothing was placed in snapshots/"), "{line}");
        nothing_trusted(home.path(), &weights);
        (home, server, weights)
    }

    /// After the fault clears, the next pull completes (resuming what was kept).
    fn recovers(home: &Path, server: &Server, weights: &[u8]) -> Vec<String> {
        server.set_fault(Fault::None);
        let before = server.requests().len();
        let env = Env::new(home, &server.url);
        let (path, _) = pulled(&env.run(&["hub", "pull", "hf://org/tiny/model.safetensors"], home).ok());
        assert_eq!(std::fs::read(path).unwrap(), weights);
        let blobs = repo_dir(home).join("blobs");
        assert!(!blobs.join(format!("{}.incomplete", sha256(weights))).exists());
        server.requests()[before..].to_vec()
    }

    #[test]
    fn a_truncated_body_is_kept_only_as_a_part_and_resumed() {
        let (home, server, weights) = broken(Fault::Truncate, "100000 of 200000 bytes (the body ended early)");
        let part = repo_dir(home.path())
            .join("blobs")
            .join(format!("{}.incomplete", sha256(&weights)));
        assert_eq!(std::fs::metadata(&part).unwrap().len(), 100_000);
        let requests = recovers(home.path(), &server, &weights);
        assert!(
            requests
                .iter()
                .any(|r| r.starts_with("GET /cdn/") && r.ends_with("bytes=100000-")),
            "resumed with a range: {requests:?}"
        );
    }

    #[test]
    fn a_corrupted_body_is_rejected_by_its_sha256_and_deleted() {
        let (home, server, weights) = broken(Fault::Corrupt, "the ETag promises");
        let blobs = repo_dir(home.path()).join("blobs");
        let left: Vec<_> = std::fs::read_dir(&blobs).unwrap().collect();
        assert!(left.is_empty(), "the corrupt part was deleted: {left:?}");
        recovers(home.path(), &server, &weights);
    }

    #[test]
    fn a_dropped_connection_is_reported_and_resumed() {
        let (home, server, weights) = broken(Fault::Drop, "the connection failed");
        let requests = recovers(home.path(), &server, &weights);
        assert!(
            requests
                .iter()
                .any(|r| r.starts_with("GET /cdn/") && r.contains(" bytes=") && !r.ends_with("bytes=0-0")),
            "resumed with a range: {requests:?}"
        );
    }
}

mod errors {
    //! Missing repository, revision or file, and bad references: one line, exit 2.

    use super::*;

    #[test]
    fn missing_repositories_revisions_and_files_each_give_one_line() {
        let home = tempfile::tempdir().unwrap();
        let server = Server::start(vec![tiny_model(b"w")]);
        let env = Env::new(home.path(), &server.url);
        let run = |r: &str| env.run(&["hub", "pull", r], home.path()).fails();
        let line = run("hf://org/nope/model.safetensors");
        assert!(
            line.contains("hf://org/nope: repository not found at http://127.0.0.1:"),
            "{line}"
        );
        let line = run("hf://org/tiny@v9/model.safetensors");
        assert!(line.contains("hf://org/tiny: revision `v9` not found"), "{line}");
        let line = run("hf://org/tiny/nope.bin");
        assert!(
            line.contains(&format!(
                "hf://org/tiny@main: no file `nope.bin` at commit {}",
                commit("c1")
            )),
            "{line}"
        );
        let line = env.run(&["hub", "ls", "org/nope"], home.path()).fails();
        assert!(line.contains("repository not found"), "{line}");
        let line = run("hf://tiny");
        assert!(line.contains("`hf://tiny` is not a hub reference"), "{line}");
        let line = run("org/tiny/model.safetensors");
        assert!(line.contains("does not start with hf://"), "{line}");
        assert!(!home.path().join("hub/models--org--nope").join("snapshots").exists());
    }
}

mod hostile {
    //! A server's file names become paths: one that climbs out is refused.

    use super::*;

    #[test]
    fn a_listed_file_name_that_leaves_the_snapshot_is_refused() {
        let home = tempfile::tempdir().unwrap();
        let mut repo = tiny_model(b"w");
        repo.commits[0].files.push(File {
            path: "../../../escaped".into(),
            bytes: b"x".to_vec(),
            lfs: false,
        });
        let server = Server::start(vec![repo]);
        let env = Env::new(home.path(), &server.url);
        let line = env.run(&["hub", "pull", "hf://org/tiny"], home.path()).fails();
        assert!(
            line.contains("file name `../../../escaped` would leave the snapshot folder"),
            "{line}"
        );
        assert!(!home.path().join("hub/escaped").exists() && !home.path().join("escaped").exists());
    }
}

mod repositories {
    //! Datasets, pull-request revisions, folders, renamed repositories, tokens.

    use super::*;

    fn dance() -> Repo {
        let (c1, c2) = (commit("d1"), commit("d2"));
        let shard = |n: u64| File {
            path: format!("data/train-{n:05}.parquet"),
            bytes: noise(5000, n),
            lfs: true,
        };
        let card = File {
            path: "README.md".into(),
            bytes: b"---\nlicense: mit\n---\n".to_vec(),
            lfs: false,
        };
        Repo {
            kind: "datasets",
            id: "org/dance".into(),
            refs: vec![("main".into(), c1.clone()), ("refs/pr/1".into(), c2.clone())],
            commits: vec![
                Commit {
                    sha: c1,
                    files: vec![card.clone(), shard(0)],
                },
                Commit {
                    sha: c2,
                    files: vec![card, shard(0), shard(1)],
                },
            ],
            token: None,
        }
    }

    #[test]
    fn a_dataset_folder_at_a_pull_request_revision_is_pulled_by_commit() {
        let home = tempfile::tempdir().unwrap();
        let server = Server::start(vec![dance()]);
        let env = Env::new(home.path(), &server.url);
        let (path, sha) = pulled(
            &env.run(&["hub", "pull", "hf://datasets/org/dance@refs/pr/1/data"], home.path())
                .ok(),
        );
        assert_eq!(sha, commit("d2"));
        let repo = home.path().join("hub/datasets--org--dance");
        assert_eq!(path, repo.join("snapshots").join(&sha).join("data"));
        assert_eq!(std::fs::read(path.join("train-00001.parquet")).unwrap(), noise(5000, 1));
        assert!(
            !repo.join("snapshots").join(&sha).join("README.md").exists(),
            "only the folder"
        );
        assert_eq!(
            std::fs::read_to_string(repo.join("refs/refs/pr/1")).unwrap(),
            sha,
            "as huggingface_hub names it"
        );
        // main is another commit sharing a blob: linked, not downloaded again.
        let before = server.requests().len();
        let (main, main_sha) = pulled(&env.run(&["hub", "pull", "hf://datasets/org/dance"], home.path()).ok());
        assert_eq!(main_sha, commit("d1"));
        assert_eq!(
            std::fs::read(main.join("data/train-00000.parquet")).unwrap(),
            noise(5000, 0)
        );
        let fetched = server.requests()[before..]
            .iter()
            .filter(|r| r.starts_with("GET /cdn/") && !r.ends_with("0-0"))
            .count();
        assert_eq!(fetched, 0, "the shard's blob was in the cache");
        let listing = env
            .run(&["hub", "ls", "hf://datasets/org/dance@refs/pr/1"], home.path())
            .ok();
        assert!(listing.contains("data/train-00001.parquet  lfs"), "{listing}");
    }

    #[test]
    fn a_renamed_repository_resolves_through_relative_redirects() {
        let home = tempfile::tempdir().unwrap();
        let server = Server::start(vec![tiny_model(b"weights")]);
        server.rename("old/tiny", "org/tiny");
        let env = Env::new(home.path(), &server.url);
        let (path, sha) = pulled(&env.run(&["hub", "pull", "hf://old/tiny/config.json"], home.path()).ok());
        assert_eq!(sha, commit("c1"));
        assert_eq!(std::fs::read(path).unwrap(), b"{\"preset\": \"tiny\"}\n");
        assert!(server
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /old/tiny/resolve/")));
    }

    #[test]
    fn a_private_repository_answers_only_with_hf_token() {
        let home = tempfile::tempdir().unwrap();
        let mut repo = tiny_model(b"secret weights");
        repo.token = Some("hf_test".into());
        let server = Server::start(vec![repo]);
        let mut env = Env::new(home.path(), &server.url);
        let line = env
            .run(&["hub", "pull", "hf://org/tiny/model.safetensors"], home.path())
            .fails();
        assert!(line.contains("need HF_TOKEN"), "{line}");
        env.token = Some("hf_test".into());
        let (path, _) = pulled(
            &env.run(&["hub", "pull", "hf://org/tiny/model.safetensors"], home.path())
                .ok(),
        );
        assert_eq!(std::fs::read(path).unwrap(), b"secret weights");
    }
}

/// `<root>/s.toml`: a 16x16 TikTok-profile dataset of 4 short videos (built on first use).
fn small_dataset_profile(root: &Path) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    std::fs::copy(shipped.join("tiktok.toml"), root.join("tiktok.toml")).unwrap();
    std::fs::write(
        root.join("s.toml"),
        "extends = \"tiktok.toml\"\nheight = 16\nwidth = 16\nvideos = 4\ntest_videos = 2\nframes_per_video = 4\n",
    )
    .unwrap();
}

mod datasets_by_reference {
    //! `data.dataset = "hf://datasets/..."`: a dataset repository in the
    //! shard layout trains like a local dataset; a card or manifest that
    //! disagrees with the shards is refused.

    use super::*;

    /// Every file under `dir`, as the repository serves them (Parquet in LFS).
    fn files(dir: &Path, under: &Path, out: &mut Vec<File>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, under, out);
            } else {
                let path = p.strip_prefix(under).unwrap().to_string_lossy().into_owned();
                let lfs = path.ends_with(".parquet");
                out.push(File {
                    path,
                    bytes: std::fs::read(&p).unwrap(),
                    lfs,
                });
            }
        }
    }

    /// A new commit: `files` with `path` edited.
    fn with(files: &[File], path: &str, edit: impl Fn(String) -> String) -> Commit {
        let mut files = files.to_vec();
        let f = files.iter_mut().find(|f| f.path == path).unwrap();
        f.bytes = edit(String::from_utf8(f.bytes.clone()).unwrap()).into_bytes();
        Commit {
            sha: commit(&format!("{path}-edited")),
            files,
        }
    }

    #[test]
    fn a_dataset_repository_trains_by_reference_and_a_card_or_manifest_that_disagrees_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        small_dataset_profile(root);
        let home = root.join("hf");
        let nohub = Env::new(&home, "http://127.0.0.1:9");
        nohub
            .run(&["data", "build", "s", "--root", root.to_str().unwrap()], root)
            .ok();
        let mut shards = Vec::new();
        files(&root.join("s"), &root.join("s"), &mut shards);
        assert!(
            shards.iter().any(|f| f.path.starts_with("data/train-")),
            "the shard layout"
        );
        let s1 = commit("s1");
        let server = Server::start(vec![Repo {
            kind: "datasets",
            id: "org/s".into(),
            refs: vec![("main".into(), s1.clone())],
            commits: vec![Commit {
                sha: s1.clone(),
                files: shards.clone(),
            }],
            token: None,
        }]);
        let env = Env::new(&home, &server.url);
        let text = format!(
            "seed = 5\n\n[model]\npreset = \"tiny\"\n\n[data]\ndataset = \"hf://datasets/org/s\"\n\n\
             [train]\nstage = \"pose\"\nsteps = 1\nbatch_size = 2\nwarmup_steps = 0\n\n\
             [output]\nresults_dir = \"{}/results\"\n",
            root.display()
        );
        let exp = root.join("remote.toml");
        std::fs::write(&exp, text).unwrap();
        let exp = exp.to_str().unwrap();
        assert!(env.run(&["train", exp], root).ok().starts_with("finished: "));
        let config = std::fs::read_to_string(root.join("results/remote/train/seed-5/config.toml")).unwrap();
        assert!(
            config.contains(&format!("dataset = \"hf://datasets/org/s@{s1}\"")),
            "{config}"
        );

        // A card whose split sizes are not the data's.
        let bad_card = with(&shards, "README.md", |c| {
            c.replacen("num_examples: ", "num_examples: 9", 1)
        });
        server.move_ref("org/s", "main", &bad_card.sha.clone(), Some(bad_card));
        let line = env.run(&["train", exp], root).fails();
        assert!(
            line.contains("the card's `dataset_info:` block disagrees with manifest.json"),
            "{line}"
        );

        // A manifest whose digest is not the shard's.
        let bad_manifest = with(&shards, "manifest.json", |m| {
            let mut v: serde_json::Value = serde_json::from_str(&m).unwrap();
            v["shards"][0]["sha256"] = "0".repeat(64).into();
            serde_json::to_string_pretty(&v).unwrap()
        });
        server.move_ref("org/s", "main", &bad_manifest.sha.clone(), Some(bad_manifest));
        let line = env.run(&["train", exp], root).fails();
        assert!(line.contains(&format!("manifest says {}", "0".repeat(64))), "{line}");
        assert!(line.contains("hf://datasets/org/s@"), "{line}");

        let line = env
            .run(&["train", exp, "--set", "data.dataset=hf://org/tiny"], root)
            .fails();
        assert!(line.contains("names a model repository"), "{line}");
    }
}

mod init_from {
    //! `train.init_from = "hf://..."` on the tiny model: the commit is
    //! recorded and pinned in the config hash; a moved branch reruns.

    use super::*;

    fn write_experiment(root: &Path, name: &str, init_from: Option<&str>) -> PathBuf {
        // A stage from the Hub also evaluates, so its export has metrics.
        let init = init_from.map_or(String::new(), |r| format!("init_from = \"{r}\"\neval_every = 1\n"));
        let text = format!(
            "seed = 3\n\n[model]\npreset = \"tiny\"\n\n[data]\ndataset = \"s\"\nroot = \"{root}\"\n\n\
             [train]\nstage = \"pose\"\nsteps = 1\nbatch_size = 2\nwarmup_steps = 0\ncheckpoint_every = 1\n{init}\n\
             [output]\nresults_dir = \"{root}/results\"\n",
            root = root.display()
        );
        let path = root.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn manifest(dir: &Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
    }

    #[test]
    fn a_hub_checkpoint_is_pulled_pinned_and_recorded_and_a_moved_branch_reruns() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        small_dataset_profile(root);
        let home = root.join("hf");
        let pre = write_experiment(root, "pre", None);
        let nohub = Env::new(&home, "http://127.0.0.1:9");
        nohub.run(&["train", pre.to_str().unwrap()], root).ok();
        let weights = std::fs::read(root.join("results/pre/train/seed-3/last.safetensors")).unwrap();

        let server = Server::start(vec![tiny_model(&weights)]);
        let env = Env::new(&home, &server.url);
        let ft = write_experiment(root, "ft", Some("hf://org/tiny/model.safetensors"));
        let ft = ft.to_str().unwrap();
        let out = env.run(&["train", ft], root).ok();
        assert!(out.starts_with("finished: "), "{out}");
        let dir = root.join("results/ft/train/seed-3");
        let c1 = commit("c1");
        let pinned = format!("hf://org/tiny@{c1}/model.safetensors");
        let m = manifest(&dir);
        let input = &m["inputs"][0];
        assert_eq!(input["hub"]["commit"], c1.as_str());
        assert_eq!(input["hub"]["reference"], pinned.as_str());
        assert_eq!(input["sha256"], sha256(&weights).as_str());
        assert!(input["path"]
            .as_str()
            .unwrap()
            .contains(&format!("models--org--tiny/snapshots/{c1}/")));
        let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        assert!(config.contains(&format!("init_from = \"{pinned}\"")), "{config}");
        let hash = m["config_hash"].as_str().unwrap().to_string();
        assert!(env.run(&["train", ft], root).ok().starts_with("reused: "));

        // main moves to a new commit (same weights): a new cell, not the cached one.
        let c2 = commit("c2");
        let mut moved = tiny_model(&weights).commits.remove(0);
        moved.sha = c2.clone();
        server.move_ref("org/tiny", "main", &c2, Some(moved));
        assert!(env.run(&["train", ft], root).ok().starts_with("finished: "));
        let m = manifest(&dir);
        assert_eq!(m["inputs"][0]["hub"]["commit"], c2.as_str());
        assert_ne!(m["config_hash"].as_str().unwrap(), hash);

        // Offline with the server gone: refs/main pins the same cell, and sample pulls from the cache.
        drop(server);
        let offline = env.offline();
        assert!(offline.run(&["train", ft], root).ok().starts_with("reused: "));
        let gif = root.join("clip.gif");
        let args = [
            "sample",
            "hf://org/tiny/model.safetensors",
            "--dataset",
            "s",
            "--root",
            root.to_str().unwrap(),
            "--video",
            "0",
            "--frames",
            "1",
            "--steps",
            "2",
            "--out",
            gif.to_str().unwrap(),
        ];
        offline.run(&args, root).ok();
        assert!(gif.is_file());

        // The run exported for upload: weights without optimizer state, the resolved config, a card.
        let out = root.join("export");
        let dir_arg = dir.to_str().unwrap();
        offline
            .run(&["hub", "export", dir_arg, "--out", out.to_str().unwrap()], root)
            .ok();
        let ck = entprog::results::checkpoint::load(&out.join("model.safetensors"), &candle_core::Device::Cpu).unwrap();
        assert!(!ck.weights.is_empty() && ck.moments.is_empty() && ck.state.model.is_some());
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(
            config["train"]["init_from"],
            format!("hf://org/tiny@{c2}/model.safetensors").as_str()
        );
        let card = std::fs::read_to_string(out.join("README.md")).unwrap();
        let m = manifest(&dir);
        for want in [
            "library_name: entprog".to_string(),
            "base_model:\n- org/tiny\n".to_string(),
            format!("| config hash | sha256:{} |", m["config_hash"].as_str().unwrap()),
            "| seed | 3 |".to_string(),
            format!("`hf://org/tiny@{c2}/model.safetensors`"),
            "| heldout_loss |".to_string(),
        ] {
            assert!(card.contains(&want), "{want:?} in\n{card}");
        }
        let exported = out.join("model.safetensors");
        let sample_export = [&["sample", exported.to_str().unwrap()], &args[2..]].concat();
        offline.run(&sample_export, root).ok();
        let line = offline
            .run(&["hub", "export", root.to_str().unwrap(), "--out", "x"], root)
            .fails();
        assert!(line.contains("cannot export: no readable manifest"), "{line}");
    }
}
