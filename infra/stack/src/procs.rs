//! Child processes of the stack: started in their own process groups (so a part that
//! starts programs of its own, like `cargo lambda watch`, is stopped with everything it
//! started), their output sent to the log stream, their exits reported on a channel, and
//! all of them stopped in reverse order with SIGTERM, then SIGKILL after a grace period.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::logs::Logs;

/// How long a part gets to stop after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// How long an exited part's output may still be read before its exit is reported.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// A part's process ended.
#[derive(Debug)]
pub struct Exited {
    pub part: &'static str,
    pub pid: u32,
    pub status: Option<ExitStatus>,
}

/// Why a part could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot start {program} for [{part}]: {source}")]
    Start {
        part: &'static str,
        program: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
struct Running {
    part: &'static str,
    pid: u32,
}

/// The children of the stack. Cheap to clone.
#[derive(Clone)]
pub struct Children {
    logs: Logs,
    running: Arc<Mutex<Vec<Running>>>,
    exits: mpsc::UnboundedSender<Exited>,
}

impl Children {
    pub fn new(logs: Logs) -> (Children, mpsc::UnboundedReceiver<Exited>) {
        let (exits, receiver) = mpsc::unbounded_channel();
        (
            Children {
                logs,
                running: Arc::default(),
                exits,
            },
            receiver,
        )
    }

    /// Starts `program` as the part `part`: own process group, output to the log stream,
    /// exit reported. Returns its pid (which is also its process group id).
    #[allow(unsafe_code)] // libc process control
    pub fn spawn(
        &self,
        part: &'static str,
        program: &Path,
        args: &[String],
        env: &BTreeMap<String, String>,
        cwd: &Path,
    ) -> Result<u32, SpawnError> {
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // If the stack itself dies without stopping its parts (SIGKILL), the kernel sends
        // each direct child SIGTERM, so nothing is left holding the ports.
        // SAFETY: prctl is async-signal-safe and touches only the calling (child) process.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|source| SpawnError::Start {
            part,
            program: program.display().to_string(),
            source,
        })?;
        let pid = child.id().expect("a just-spawned child has a pid");
        let forwarders: Vec<_> = [
            child
                .stdout
                .take()
                .map(|out| tokio::spawn(forward(out, part, self.logs.clone()))),
            child
                .stderr
                .take()
                .map(|err| tokio::spawn(forward(err, part, self.logs.clone()))),
        ]
        .into_iter()
        .flatten()
        .collect();
        self.running
            .lock()
            .expect("children lock is never poisoned")
            .push(Running { part, pid });
        let running = self.running.clone();
        let exits = self.exits.clone();
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            // The exit is reported only once the part's last lines are in the log, so
            // whoever hears of it can show why it died. Programs the part started may hold
            // its pipes open after it is gone; those get a bounded wait, not a hang.
            let drained = futures::future::join_all(forwarders);
            let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, drained).await;
            running
                .lock()
                .expect("children lock is never poisoned")
                .retain(|r| r.pid != pid);
            let _ = exits.send(Exited { part, pid, status });
        });
        Ok(pid)
    }

    /// Pids of the running parts, by part.
    pub fn pids(&self) -> BTreeMap<String, u32> {
        self.running
            .lock()
            .expect("children lock is never poisoned")
            .iter()
            .map(|r| (r.part.to_owned(), r.pid))
            .collect()
    }

    pub fn is_running(&self, pid: u32) -> bool {
        self.running
            .lock()
            .expect("children lock is never poisoned")
            .iter()
            .any(|r| r.pid == pid)
    }

    /// Stops one part's process group: SIGTERM, then SIGKILL after the grace period.
    pub async fn stop(&self, pid: u32) {
        signal_group(pid, libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + GRACE;
        while self.is_running(pid) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The group may hold programs the leader started; they go too.
        signal_group(pid, libc::SIGKILL);
        while self.is_running(pid) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every part, the last started first.
    pub async fn stop_all(&self) {
        let running: Vec<Running> = self
            .running
            .lock()
            .expect("children lock is never poisoned")
            .clone();
        for part in running.iter().rev() {
            self.logs.line(
                "stack",
                &format!("stopping [{}] (pid {})", part.part, part.pid),
            );
            self.stop(part.pid).await;
        }
    }
}

/// Sends `signal` to the process group `pgid`; a group that is gone is not an error.
#[allow(unsafe_code)] // libc process control
pub fn signal_group(pgid: u32, signal: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: kill has no memory effects; a negative pid addresses a process group.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// Whether a process with this pid exists.
#[allow(unsafe_code)] // libc process control
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    pid > 1 && unsafe { libc::kill(pid, 0) } == 0
}

async fn forward(stream: impl AsyncRead + Unpin, part: &'static str, logs: Logs) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.line(part, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_part_that_dies_has_its_last_words_logged_before_its_exit_is_reported() {
        let logs = Logs::default();
        let (children, mut exits) = Children::new(logs.clone());
        // The part's last words come from a program it started, a moment after the part
        // itself is gone (as with `cargo lambda watch` and its children): were the exit
        // reported as soon as the part is reaped, they would not be in the log yet. One
        // stream only, so the log holds the lines in the order they were written.
        let script = "i=0; while [ $i -lt 200 ]; do echo \"line $i\" >&2; i=$((i+1)); done; \
                      (sleep 0.2; echo 'dying words' >&2) & exit 7";
        let pid = children
            .spawn(
                "dying",
                Path::new("/bin/sh"),
                &["-c".to_owned(), script.to_owned()],
                &BTreeMap::new(),
                Path::new("."),
            )
            .expect("sh starts");
        let exited = exits.recv().await.expect("the exit is reported");
        assert_eq!(exited.pid, pid);
        assert_eq!(exited.status.and_then(|s| s.code()), Some(7));
        let recent = logs.recent("dying");
        assert_eq!(
            recent.last().map(String::as_str),
            Some("dying words"),
            "the part's last line is in the log when its exit is reported: {recent:?}"
        );
    }
}
