//! Admin operations that run as background tasks, watched through `/admin/tasks`.

pub mod reindex;
pub mod tasks;

pub use tasks::{AdminTasks, Task, TaskPhase, TaskStatus};
