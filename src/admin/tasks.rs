//! In-memory registry of admin tasks (`/admin/tasks`). Tasks do not survive a restart: a reindex
//! interrupted by one needs no cleanup, since the search state is rebuilt at startup anyway.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Tasks kept for `GET /admin/tasks`; older finished ones are forgotten.
pub const MAX_TASKS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskPhase {
    Scanning,
    Replaying,
    Swapping,
    Done,
}

impl TaskPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskPhase::Scanning => "scanning",
            TaskPhase::Replaying => "replaying",
            TaskPhase::Swapping => "swapping",
            TaskPhase::Done => "done",
        }
    }
}

struct Progress {
    status: TaskStatus,
    phase: TaskPhase,
    done: u64,
    total: u64,
    finished: Option<DateTime<Utc>>,
    generation: u64,
    error: Option<String>,
}

/// One admin task and its progress, shared by its worker and the HTTP handlers.
pub struct Task {
    pub id: String,
    pub kind: &'static str,
    pub started: DateTime<Utc>,
    progress: Mutex<Progress>,
    /// Counts scanned resources: the rebuild reports through a progress bar, here a hidden one.
    scan: indicatif::ProgressBar,
}

impl Task {
    fn new(kind: &'static str, generation: u64) -> Task {
        Task {
            id: uuid::Uuid::new_v4().simple().to_string(),
            kind,
            started: Utc::now(),
            progress: Mutex::new(Progress {
                status: TaskStatus::Queued,
                phase: TaskPhase::Scanning,
                done: 0,
                total: 0,
                finished: None,
                generation,
                error: None,
            }),
            scan: indicatif::ProgressBar::hidden(),
        }
    }

    /// `/admin/tasks/{id}`, the task's status URL.
    pub fn location(&self) -> String {
        format!("/admin/tasks/{}", self.id)
    }

    pub fn status(&self) -> TaskStatus {
        self.progress.lock().status
    }

    pub fn phase(&self) -> TaskPhase {
        self.progress.lock().phase
    }

    pub fn generation(&self) -> u64 {
        self.progress.lock().generation
    }

    pub fn error(&self) -> Option<String> {
        self.progress.lock().error.clone()
    }

    /// The progress bar the scan advances (hidden: it only counts).
    pub fn scan_progress(&self) -> &indicatif::ProgressBar {
        &self.scan
    }

    /// Enter `phase` (the task is running from then on) with `total` units of work to do.
    pub fn enter(&self, phase: TaskPhase, total: u64) {
        let mut progress = self.progress.lock();
        progress.status = TaskStatus::Running;
        progress.phase = phase;
        progress.done = 0;
        progress.total = total;
        if phase == TaskPhase::Scanning {
            self.scan.set_position(0);
            self.scan.set_length(total);
        }
    }

    pub fn set_progress(&self, done: u64, total: u64) {
        let mut progress = self.progress.lock();
        progress.done = done;
        progress.total = total.max(done);
    }

    pub fn succeed(&self, generation: u64) {
        let mut progress = self.progress.lock();
        progress.status = TaskStatus::Succeeded;
        progress.phase = TaskPhase::Done;
        progress.done = progress.total;
        progress.generation = generation;
        progress.finished = Some(Utc::now());
    }

    /// The phase stays where the task stopped, so that the console can tell where it failed.
    pub fn fail(&self, error: impl Into<String>) {
        let mut progress = self.progress.lock();
        progress.status = TaskStatus::Failed;
        progress.error = Some(error.into());
        progress.finished = Some(Utc::now());
    }

    /// The JSON the admin API serves (the console relies on these exact fields).
    pub fn to_json(&self) -> Value {
        let progress = self.progress.lock();
        let (done, total) = if progress.phase == TaskPhase::Scanning && progress.status == TaskStatus::Running
        {
            let total = progress.total.max(self.scan.length().unwrap_or(0));
            (self.scan.position().min(total), total)
        } else {
            (progress.done, progress.total)
        };
        let mut body = json!({
            "id": self.id,
            "kind": self.kind,
            "status": progress.status.as_str(),
            "phase": progress.phase.as_str(),
            "progress": {"done": done, "total": total},
            "started": rfc3339(&self.started),
            "generation": progress.generation,
        });
        if let Some(object) = body.as_object_mut() {
            if let Some(finished) = &progress.finished {
                object.insert("finished".into(), Value::String(rfc3339(finished)));
            }
            if let Some(error) = &progress.error {
                object.insert("error".into(), Value::String(error.clone()));
            }
        }
        body
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("status", &self.status())
            .field("phase", &self.phase())
            .finish()
    }
}

fn rfc3339(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The admin tasks of this process, most recent first.
#[derive(Default)]
pub struct AdminTasks {
    tasks: Mutex<VecDeque<Arc<Task>>>,
}

impl AdminTasks {
    pub fn new() -> AdminTasks {
        AdminTasks::default()
    }

    /// Register a new task of `kind`, unless one of that kind is queued or running: that one is
    /// returned as the error. Check and insert happen under one lock, so two concurrent requests
    /// cannot both start one.
    pub fn begin_exclusive(&self, kind: &'static str, generation: u64) -> Result<Arc<Task>, Arc<Task>> {
        let mut tasks = self.tasks.lock();
        if let Some(running) = tasks.iter().find(|t| t.kind == kind && !t.status().is_finished()) {
            return Err(running.clone());
        }
        let task = Arc::new(Task::new(kind, generation));
        tasks.push_front(task.clone());
        // Unfinished tasks are never forgotten (their worker still reports to them).
        while tasks.len() > MAX_TASKS {
            let Some(oldest_finished) = tasks.iter().rposition(|t| t.status().is_finished()) else { break };
            tasks.remove(oldest_finished);
        }
        Ok(task)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Task>> {
        self.tasks.lock().iter().find(|t| t.id == id).cloned()
    }

    /// Most recent first, at most [`MAX_TASKS`].
    pub fn list(&self) -> Vec<Arc<Task>> {
        self.tasks.lock().iter().take(MAX_TASKS).cloned().collect()
    }

    /// The task of `kind` queued or running, if any.
    pub fn active(&self, kind: &str) -> Option<Arc<Task>> {
        self.tasks.lock().iter().find(|t| t.kind == kind && !t.status().is_finished()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_one_active_task_per_kind_and_json_shape() {
        let tasks = AdminTasks::new();
        let first = tasks.begin_exclusive("reindex", 2).expect("first");
        let json = first.to_json();
        assert_eq!(json["status"], "queued");
        assert_eq!(json["phase"], "scanning");
        assert_eq!(json["kind"], "reindex");
        assert_eq!(json["generation"], 2);
        assert!(json.get("finished").is_none() && json.get("error").is_none());
        assert!(DateTime::parse_from_rfc3339(json["started"].as_str().expect("started")).is_ok());
        let second = tasks.begin_exclusive("reindex", 2).expect_err("one at a time");
        assert_eq!(second.id, first.id);

        first.enter(TaskPhase::Scanning, 10);
        first.scan_progress().inc(4);
        assert_eq!(first.to_json()["progress"], json!({"done": 4, "total": 10}));
        first.fail("boom");
        let json = first.to_json();
        assert_eq!(json["status"], "failed");
        assert_eq!(json["error"], "boom");
        assert!(DateTime::parse_from_rfc3339(json["finished"].as_str().expect("finished")).is_ok());
        let third = tasks.begin_exclusive("reindex", 2).expect("after a failure");
        assert_eq!(tasks.list().first().map(|t| t.id.clone()), Some(third.id.clone()));
        assert!(tasks.get(&first.id).is_some());
        assert!(tasks.get("unknown").is_none());
    }

    #[test]
    fn test_registry_keeps_the_most_recent_tasks() {
        let tasks = AdminTasks::new();
        let mut ids = Vec::new();
        for _ in 0..(MAX_TASKS + 5) {
            let task = tasks.begin_exclusive("reindex", 1).expect("previous one finished");
            task.succeed(2);
            ids.push(task.id.clone());
        }
        let listed: Vec<String> = tasks.list().iter().map(|t| t.id.clone()).collect();
        assert_eq!(listed.len(), MAX_TASKS);
        ids.reverse();
        assert_eq!(listed, ids[..MAX_TASKS]);
        assert_eq!(tasks.list()[0].to_json()["phase"], "done");
    }
}
