//! A real single-node Slurm (Debian's `slurm-wlm` and `munge`), started by
//! the tests that need one: `munged`, `slurmctld` and `slurmd` run in the
//! foreground as child processes of the test binary, everything (munge key
//! and socket, `slurm.conf`, state, spool, logs) lives in a temporary folder,
//! and the ports are picked free at start. No accounting, no cgroups.
//!
//! A test holds [`lock`] while its [`Cluster`] lives (one cluster at a time),
//! and a test that needs Slurm fails when it cannot start: the error names
//! the daemon and carries the tail of its log.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

const MISSING: &str = "slurm-wlm is not installed (apt-get install slurm-wlm munge)";
/// How long [`Cluster::start`] waits for the node to turn `idle`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the tests wait for jobs.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// Slurm tests must not run at once (one cluster at a time): hold this while a cluster lives.
pub fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A test that panicked while holding it has already dropped its cluster.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A single-node Slurm on localhost under a temp dir, for tests.
pub struct Cluster {
    /// Stopped in reverse order by `Drop`, before `dir` is removed.
    daemons: Vec<(&'static str, Child)>,
    conf: PathBuf,
    /// The node reached `idle`: `Drop` cancels the jobs first.
    ready: bool,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts munge, slurmctld and slurmd (foreground daemons as child processes,
    /// generated slurm.conf in a temp dir, no accounting), waits until the node is idle.
    /// Err(String) with a clear reason (which daemon, its log tail) when Slurm cannot start.
    pub fn start() -> Result<Cluster, String> {
        let find = |name: &str| program(name).ok_or_else(|| format!("{MISSING}: `{name}` not found"));
        let (munged, slurmctld, slurmd) = (find("munged")?, find("slurmctld")?, find("slurmd")?);
        for client in ["sbatch", "squeue", "scancel", "sinfo", "scontrol"] {
            find(client)?;
        }
        let io = |what: &str, e: std::io::Error| format!("slurm test cluster: {what}: {e}");
        let dir = tempfile::Builder::new()
            .prefix("entprog-slurm-")
            .tempdir()
            .map_err(|e| io("temp dir", e))?;
        let d = dir.path().to_path_buf();
        // munged wants every folder above its socket searchable by all.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).map_err(|e| io("chmod", e))?;
        for sub in ["state", "spool"] {
            fs::create_dir(d.join(sub)).map_err(|e| io(sub, e))?;
        }
        let mut key = vec![0u8; 1024];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .map_err(|e| io("/dev/urandom", e))?;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(d.join("munge.key"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, &key))
            .map_err(|e| io("munge.key", e))?;
        fs::write(d.join("plugstack.conf"), "").map_err(|e| io("plugstack.conf", e))?;
        let conf = d.join("slurm.conf");
        fs::write(&conf, slurm_conf(&d)?).map_err(|e| io("slurm.conf", e))?;

        let mut cluster = Cluster {
            daemons: Vec::new(),
            conf: conf.clone(),
            ready: false,
            dir,
        };
        let p = |name: &str| d.join(name).display().to_string();
        let socket = d.join("munge.sock");
        let munge_args = [
            "--foreground".to_string(),
            format!("--socket={}", socket.display()),
            format!("--key-file={}", p("munge.key")),
            format!("--log-file={}", p("munged.log")),
            format!("--pid-file={}", p("munged.pid")),
            format!("--seed-file={}", p("munged.seed")),
        ];
        cluster.spawn("munged", &munged, &munge_args)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            cluster.check_alive()?;
            if Instant::now() > deadline {
                return Err(cluster.failure("munged did not create its socket within 10 s"));
            }
            sleep(Duration::from_millis(20));
        }
        let conf_s = conf.display().to_string();
        cluster.spawn("slurmctld", &slurmctld, &["-D", "-i", "-f", &conf_s])?;
        cluster.spawn("slurmd", &slurmd, &["-D", "-N", "localhost", "-f", &conf_s])?;

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            cluster.check_alive()?;
            let (ok, out, err) = cluster.client("sinfo", &["-h", "-o", "%T"]);
            if ok && out.trim() == "idle" {
                cluster.ready = true;
                return Ok(cluster);
            }
            let last = format!("{}{}", out.trim(), err.trim());
            if Instant::now() > deadline {
                let why =
                    format!("the node did not become idle within {START_TIMEOUT:?} (last `sinfo -h -o %T`: {last:?})");
                return Err(cluster.failure(&why));
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Environment a command needs to talk to this cluster: at least SLURM_CONF (and anything else required, e.g. a munge socket).
    ///
    /// The munge socket is named in the configuration (`AuthInfo=socket=...`),
    /// which the clients and the daemons read, so `SLURM_CONF` is all.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("SLURM_CONF".to_string(), self.conf.display().to_string())]
    }

    /// Runs a Slurm client command (sbatch, squeue, scancel, sinfo) with env(); returns (status success, stdout, stderr).
    ///
    /// Inherited `SLURM_*`/`SBATCH_*`/`SQUEUE_*` variables (a test run inside a
    /// Slurm job) are removed so that they cannot reach this cluster's clients.
    pub fn client(&self, program_name: &str, args: &[&str]) -> (bool, String, String) {
        let path = program(program_name).unwrap_or_else(|| PathBuf::from(program_name));
        let mut cmd = Command::new(path);
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if ["SLURM_", "SBATCH_", "SQUEUE_", "SINFO_", "SCANCEL_"]
                .iter()
                .any(|p| k.starts_with(p))
            {
                cmd.env_remove(&key);
            }
        }
        match cmd.args(args).envs(self.env()).stdin(Stdio::null()).output() {
            Ok(out) => (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ),
            Err(e) => (false, String::new(), format!("{program_name}: {e}")),
        }
    }

    /// The cluster's temporary folder (configuration, state, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `name` with its stdout and stderr in `<dir>/<name>.out`.
    fn spawn(&mut self, name: &'static str, path: &Path, args: &[impl AsRef<std::ffi::OsStr>]) -> Result<(), String> {
        let out = fs::File::create(self.dir().join(format!("{name}.out"))).map_err(|e| format!("{name}.out: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("{name}.out: {e}"))?;
        let child = Command::new(path)
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", path.display()))?;
        self.daemons.push((name, child));
        Ok(())
    }

    /// Err naming the first daemon that has exited, with its log tail.
    fn check_alive(&mut self) -> Result<(), String> {
        for i in 0..self.daemons.len() {
            let (name, child) = &mut self.daemons[i];
            let name = *name;
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "slurm test cluster: {name} exited ({status}) during start\n{}",
                    self.tail(name)
                ));
            }
        }
        Ok(())
    }

    /// A start failure: `why` and the log tails of every daemon started so far.
    fn failure(&self, why: &str) -> String {
        let tails: Vec<String> = self.daemons.iter().map(|(name, _)| self.tail(name)).collect();
        format!("slurm test cluster: {why}\n{}", tails.join("\n"))
    }

    /// The last lines of what `name` wrote to its stdout/stderr (the -D
    /// daemons log there too, along with what comes before their log file opens).
    fn tail(&self, name: &str) -> String {
        let path = self.dir().join(format!("{name}.out"));
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        format!("--- {name} ({}), last lines:\n{tail}", path.display())
    }

    /// Cancels every job and waits (a few seconds at most) until none is left.
    fn cancel_all(&mut self) {
        if !self.ready || self.check_alive().is_err() {
            return;
        }
        let _ = self.client("scancel", &["--partition=debug"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let (ok, out, _) = self.client("squeue", &["-h", "-o", "%i"]);
            if !ok || out.trim().is_empty() {
                return;
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cancel_all();
        for (_, child) in self.daemons.iter_mut().rev() {
            terminate(child);
        }
    }
}

/// SIGTERM, up to 5 s to exit, then SIGKILL; reaps the child either way.
fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `name` on PATH or in the sbin folders (which a non-login PATH may lack).
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A TCP port free on 127.0.0.1 right now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("slurm test cluster: no free port: {e}"))
}

/// The whole configuration: one node `localhost` with this machine's CPUs and
/// half its memory, one partition, no accounting, no cgroups, short waits.
fn slurm_conf(d: &Path) -> Result<String, String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_kib: u64 = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(2 << 20);
    let real_memory = (mem_kib / 1024 / 2).max(1);
    let user = Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string());
    let (ctld_port, d_port) = (free_port()?, free_port()?);
    let p = |name: &str| d.join(name).display().to_string();
    Ok(format!(
        "# Generated by tests/slurm_cluster.rs for one test's cluster.
ClusterName=entprog-test
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
AuthInfo=socket={socket}
CredType=cred/munge
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={ctld_pid}
SlurmdPidFile={d_pid}
SlurmctldLogFile={ctld_log}
SlurmdLogFile={d_log}
PlugStackConfig={plugstack}
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
KillWait=2
InactiveLimit=0
NodeName=localhost CPUs={cpus} RealMemory={real_memory} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
",
        socket = p("munge.sock"),
        state = p("state"),
        spool = p("spool"),
        ctld_pid = p("slurmctld.pid"),
        d_pid = p("slurmd.pid"),
        ctld_log = p("slurmctld.log"),
        d_log = p("slurmd.log"),
        plugstack = p("plugstack.conf"),
    ))
}

/// Submits a batch job running in `work`; returns its id.
fn sbatch(cluster: &Cluster, work: &Path, args: &[&str]) -> String {
    let chdir = format!("--chdir={}", work.display());
    let mut all = vec!["--parsable", chdir.as_str()];
    all.extend_from_slice(args);
    let (ok, out, err) = cluster.client("sbatch", &all);
    assert!(ok, "sbatch {all:?} failed: {err}");
    out.trim().split(';').next().unwrap().to_string()
}

/// `JobState` as `scontrol show job` reports it.
fn job_state(cluster: &Cluster, id: &str) -> String {
    let (_, out, _) = cluster.client("scontrol", &["show", "job", id]);
    let state = out.split_whitespace().find_map(|w| w.strip_prefix("JobState="));
    state.unwrap_or("?").to_string()
}

/// Polls `done` until it holds or [`JOB_TIMEOUT`] passes.
fn wait_for(what: &str, cluster: &Cluster, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + JOB_TIMEOUT;
    while !done() {
        let (_, queue, _) = cluster.client("squeue", &[]);
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; squeue:\n{queue}"
        );
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_single_node_slurm_runs_a_job_with_a_dependency() {
    let _one_cluster = lock();
    let started = Instant::now();
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("slurm test cluster: started in {:.2?}", started.elapsed());
    let work = tempfile::tempdir().unwrap();
    let (a, b, c) = (work.path().join("a"), work.path().join("b"), work.path().join("c"));
    let one = sbatch(
        &cluster,
        work.path(),
        &["--wrap", &format!("echo one > {}", a.display())],
    );
    // `b` holds `a` then `two`: the dependant ran after the first job had written.
    let after_one = format!("--dependency=afterok:{one}");
    let then = format!("cat {} > {b} && echo two >> {b}", a.display(), b = b.display());
    let two = sbatch(
        &cluster,
        work.path(),
        &[&after_one, "--kill-on-invalid-dep=yes", "--wrap", &then],
    );
    let failing = sbatch(&cluster, work.path(), &["--wrap", "exit 3"]);
    let after_failing = format!("--dependency=afterok:{failing}");
    let touch_c = format!("touch {}", c.display());
    let never = sbatch(
        &cluster,
        work.path(),
        &[&after_failing, "--kill-on-invalid-dep=yes", "--wrap", &touch_c],
    );

    let jobs = Instant::now();
    wait_for("both files", &cluster, || {
        a.exists() && b.exists() && job_state(&cluster, &two) == "COMPLETED"
    });
    assert_eq!(fs::read_to_string(&b).unwrap(), "one\ntwo\n");
    wait_for("the dependant of the failing job to leave the queue", &cluster, || {
        cluster.client("squeue", &["-h", "-j", &never]).1.trim().is_empty()
    });
    eprintln!("slurm test cluster: four jobs settled in {:.2?}", jobs.elapsed());
    assert_eq!(job_state(&cluster, &one), "COMPLETED");
    assert_eq!(job_state(&cluster, &failing), "FAILED");
    assert_eq!(job_state(&cluster, &never), "CANCELLED");
    assert!(!c.exists(), "the dependant of a failed job ran");
}

/// Processes whose command line names `needle` (the daemons of one cluster).
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn a_dropped_cluster_leaves_no_daemons_and_a_second_one_starts() {
    let _one_cluster = lock();
    let first = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = first.dir().display().to_string();
    let work = tempfile::tempdir().unwrap();
    // A job still running at the drop is cancelled.
    let sleeper = sbatch(&first, work.path(), &["--wrap", "sleep 300"]);
    wait_for("the job to run", &first, || job_state(&first, &sleeper) == "RUNNING");
    // Its batch script lives in the cluster's spool.
    assert!(processes_naming(&dir).len() > 3, "{:?}", processes_naming(&dir));
    drop(first);
    assert_eq!(processes_naming(&dir), Vec::<String>::new());
    assert!(!Path::new(&dir).exists());
    let second = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(second.dir().display().to_string(), dir);
    let (ok, out, err) = second.client("sinfo", &["-h", "-o", "%T"]);
    assert!(ok && out.trim() == "idle", "{out}{err}");
}
