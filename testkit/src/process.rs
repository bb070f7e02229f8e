//! Child processes (etcd, kube-apiserver, kube-controller-manager) that cannot outlive the tests.
//!
//! Three layers make sure nothing survives a test binary:
//!
//! 1. Each child asks the kernel for `SIGKILL` when its parent dies (`PR_SET_PDEATHSIG`), set in
//!    `pre_exec`. The kernel ties that signal to the *thread* that forked the child, not to the
//!    process, so children are spawned from one dedicated thread that lives as long as the test
//!    binary: a `#[tokio::test]` runtime thread would end with its test and take the control plane
//!    with it. This layer covers a test binary that is killed or aborts.
//! 2. Each child runs in its own process group, so a Ctrl-C in the terminal reaches the test
//!    binary only; the children then go through layer 1 instead of racing it.
//! 3. An explicit stop (or, for the shared plane, an `atexit` hook) kills and reaps them and
//!    removes their data directory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// The spawner thread's queue. The thread is never joined: it must outlive every child.
static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();

fn spawner() -> &'static mpsc::Sender<Job> {
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        // If the thread cannot be created the receiver is dropped and `run_on_spawner` reports
        // the spawner as gone, so the error surfaces where a child is needed.
        let _ = std::thread::Builder::new()
            .name("capt-testkit-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            });
        tx
    })
}

/// Runs `f` on the spawner thread and returns its result.
fn run_on_spawner<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    let gone = || io::Error::other("the capt-testkit spawner thread is not running");
    spawner().send(job).map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())
}

/// A running child process with its log file.
#[derive(Debug)]
pub(crate) struct ManagedProcess {
    name: &'static str,
    pid: u32,
    child: Mutex<Child>,
    log: PathBuf,
}

impl ManagedProcess {
    /// Starts `program args` with stdout and stderr appended to `log`.
    pub(crate) fn spawn(name: &'static str, program: &Path, args: &[String], log: &Path) -> Result<Self> {
        Self::spawn_with_env(name, program, args, &[], log)
    }

    /// As [`spawn`](Self::spawn), with `env` added to (or replacing in) the inherited environment.
    pub(crate) fn spawn_with_env(
        name: &'static str,
        program: &Path,
        args: &[String],
        env: &[(&str, std::ffi::OsString)],
        log: &Path,
    ) -> Result<Self> {
        let out = File::create(log).map_err(|e| Error::io("create log file", log, e))?;
        let err = out.try_clone().map_err(|e| Error::io("open log file", log, e))?;
        let mut cmd = Command::new(program);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(libc::pid_t::MAX);
        // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
        // calls are allowed: prctl and getppid are, and the error path does not allocate
        // (`from_raw_os_error` builds an inline value).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl; then no signal would come.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let child = run_on_spawner(move || cmd.spawn())
            .and_then(|spawned| spawned)
            .map_err(|source| Error::Spawn {
                name,
                path: program.to_owned(),
                source,
            })?;
        tracing::debug!(name, pid = child.id(), log = %log.display(), "started");
        Ok(Self {
            name,
            pid: child.id(),
            child: Mutex::new(child),
            log: log.to_owned(),
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The component name, e.g. `etcd`.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The log file.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// `Ok` while the process runs; [`Error::Exited`] with the tail of its log once it has exited.
    pub(crate) fn check_running(&self) -> Result<()> {
        let mut child = self.child.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited(status.to_string())),
            Err(e) => Err(self.exited(format!("cannot query status: {e}"))),
        }
    }

    /// An [`Error::Exited`] for this process, with the tail of its log.
    pub(crate) fn exited(&self, status: String) -> Error {
        Error::Exited {
            name: self.name,
            status,
            log: self.log.clone(),
            tail: log_tail(&self.log, 40),
        }
    }

    /// Kills the process and its process group, and reaps it.
    ///
    /// `SIGKILL` straight away: the data is thrown away, so a graceful shutdown would only cost
    /// time (kube-apiserver drains for seconds on `SIGTERM`). The group, because provider-terraform
    /// runs OpenTofu as children, which must die with it as in a container.
    pub(crate) fn kill(&self) {
        // `try_lock` because this also runs from an `atexit` hook, where blocking is not an option.
        let mut child = match self.child.try_lock() {
            Ok(child) => child,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        if matches!(child.try_wait(), Ok(None)) {
            // The child leads its own group (`process_group(0)`): its pid is the group id.
            if let Ok(group) = libc::pid_t::try_from(self.pid) {
                // SAFETY: kill(2) with a negative pid signals that process group; no memory
                // is involved.
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `lines` lines of a log file (at most the last 16 KiB are read).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Picks a free loopback TCP port by binding port 0 and releasing it.
///
/// Another process can take the port before our child binds it; the plane retries its whole
/// start-up when a child exits early, as envtest does.
pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::io("bind a free port on", "127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("read the address of", "127.0.0.1:0", e))?
        .port();
    Ok(port)
}
