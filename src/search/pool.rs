//! A fixed set of threads that run searches.
//!
//! A search is CPU work of a few milliseconds; run on actix's blocking pool (`web::block`) it
//! got a thread per concurrent call: 32 threads under 8 national-scale clients on 2 cores, each
//! with its own allocator heap keeping freed pages (resident memory 1.9 → 2.3 GiB after a 30 s
//! load), all time-sliced on the same cores. Here at most `threads` searches run at once and the
//! others wait in line, in arrival order. Writes stay on the blocking pool: they wait for the
//! single writer's group commit, which must not hold a search thread.
//!
//! Searches can also come first for the CPU (`limits.background_nice`, off by default): the
//! threads doing background work (writes, exports, indicators, reindex) then lower their own
//! scheduling priority ([`yield_to_searches`]) and the kernel runs a ready search first. Measured
//! on the region corpus (500 searches/s during a capacity PATCH storm, 2 cores): search p99
//! 12-17 ms instead of 15-29 ms, but the writes queue (PATCH median 110-380 ms instead of
//! 12-290 ms, write-to-visible p99 above 250 ms at 1,500 PATCH/s): a trade for a deployment
//! that serves mostly searches, not a default.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

tokio::task_local! {
    /// When the request being served must have its answer (its time limit), for the searches
    /// it submits.
    static DEADLINE: Option<std::time::Instant>;
}

/// Run `request` with `deadline` as the time limit of the searches it submits: a search still
/// waiting for a thread at its deadline is not run (the caller has been answered 503 already,
/// and an overloaded pool should not spend a core on an answer nobody reads).
pub async fn within_deadline<F: std::future::Future>(
    deadline: Option<std::time::Instant>,
    request: F,
) -> F::Output {
    DEADLINE.scope(deadline, request).await
}

pub struct SearchPool {
    jobs: Sender<Job>,
    threads: usize,
}

impl SearchPool {
    pub fn new(threads: usize) -> Result<SearchPool> {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(parking_lot::Mutex::new(queue));
        for index in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("ror-search-{index}"))
                .spawn(move || serve(&queue))
                .map_err(Error::internal)?;
        }
        Ok(SearchPool { jobs, threads })
    }

    /// The default size: two threads per core. Fewer threads serve the requests in arrival
    /// order, more share the cores among them, and a short search then does not wait behind
    /// long ones. Measured on the national corpus (2 cores, 8 clients, the 27-request mix): with
    /// one thread per core, the p99 fell (13.2 vs 17.3 ms; 11.4–12.1 vs 17.3–19.6 ms side by
    /// side) but the median rose (5.06 vs 4.27 ms in the full comparison) and the throughput
    /// did not hold from one run to the next (+12 % side by side, -4 % in the comparison).
    /// The median is what an emergency directory feels; `limits.search_threads` sets it.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) * 2
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Run `work` on the pool and wait for its result without holding the caller's thread. A
    /// panic in `work` is an internal error for this request; the thread goes on serving.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let deadline = DEADLINE.try_with(|deadline| *deadline).ok().flatten();
        let job: Job = Box::new(move || {
            if reply.is_closed() {
                return;
            }
            if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
                let _ = reply.send(Err(Error::Unavailable {
                    message: "the request took longer than its time limit waiting for a search thread".into(),
                }));
                return;
            }
            if let Ok(result) = std::panic::catch_unwind(AssertUnwindSafe(work)) {
                let _ = reply.send(result);
            }
        });
        self.jobs.send(job).map_err(|_| Error::internal("the search threads have stopped"))?;
        answer.await.map_err(|_| Error::internal("the search failed unexpectedly"))?
    }
}

/// The nice value that gives searches first call on the CPU when `limits.background_nice`
/// asks for it: a ready search thread (nice 0) gets about ten times the share of a thread at 10.
pub const SEARCHES_FIRST_NICE: i32 = 10;

/// The nice value background threads take; 0 while nothing is served (a `load` has no searches
/// to favour) or when configured so.
static BACKGROUND: AtomicI32 = AtomicI32::new(0);

thread_local! {
    static YIELDED: Cell<bool> = const { Cell::new(false) };
}

/// Give searches priority over the background work of this process from now on: background
/// threads take the nice value `nice` (0: no priority).
pub fn favour_searches(nice: i32) {
    BACKGROUND.store(nice.clamp(0, 19), Ordering::Relaxed);
}

/// Called by a thread about to do background work (a write, an export): when searches come
/// first, lowers this thread's scheduling priority, once; it is not raised again (that takes a
/// privilege), so only threads that do nothing but background work call this.
pub fn yield_to_searches() {
    let nice = BACKGROUND.load(Ordering::Relaxed);
    if nice == 0 || YIELDED.with(|yielded| yielded.replace(true)) {
        return;
    }
    if let Err(error) = lower_thread_priority(nice) {
        tracing::debug!(%error, "could not lower the priority of a background thread");
    }
}

/// The scheduling priority (nice value) of the calling thread.
pub fn thread_nice() -> std::io::Result<i32> {
    #[cfg(target_os = "linux")]
    return Ok(rustix::process::getpriority_process(Some(rustix::thread::gettid()))?);
    #[cfg(not(target_os = "linux"))]
    Ok(0)
}

fn lower_thread_priority(nice: i32) -> std::io::Result<()> {
    // On Linux a thread id names that thread alone (the nice value is per thread).
    #[cfg(target_os = "linux")]
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)?;
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
    Ok(())
}

fn serve(queue: &parking_lot::Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let job = queue.lock().recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search still queued at its request's deadline, or whose requester has gone, is not run.
    #[actix_web::test]
    async fn test_a_search_past_its_deadline_or_abandoned_does_not_run() {
        let pool = Arc::new(SearchPool::new(1).expect("pool"));
        let busy = |pool: Arc<SearchPool>| async move {
            pool.run(|| {
                std::thread::sleep(std::time::Duration::from_millis(100));
                Ok(())
            })
            .await
        };
        let blocker = actix_web::rt::spawn(busy(pool.clone()));
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let deadline = std::time::Instant::now().checked_add(std::time::Duration::from_millis(20));
        let late = within_deadline(
            deadline,
            pool.run(move || {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            }),
        )
        .await;
        assert!(matches!(late, Err(Error::Unavailable { .. })), "{late:?}");
        assert!(!ran.load(Ordering::SeqCst));

        let blocker_again = actix_web::rt::spawn(busy(pool.clone()));
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        let flag = ran.clone();
        let abandoned = actix_web::rt::time::timeout(
            std::time::Duration::from_millis(5),
            pool.run(move || {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            }),
        )
        .await;
        assert!(abandoned.is_err());
        for handle in [blocker, blocker_again] {
            assert!(matches!(handle.await, Ok(Ok(()))));
        }
        // The pool is free again and still serves: the abandoned job was dropped, not run.
        assert_eq!(within_deadline(None, pool.run(|| Ok(7))).await.ok(), Some(7));
        assert!(!ran.load(Ordering::SeqCst));
    }

    /// Background threads lower their priority once searches come first; search threads keep
    /// theirs. (The only test that sets the process-wide flag.)
    #[actix_web::test]
    async fn test_background_threads_yield_to_searches_and_search_threads_do_not() {
        let base = thread_nice().expect("nice");
        let background_nice = || {
            std::thread::spawn(|| {
                yield_to_searches();
                thread_nice().expect("nice")
            })
            .join()
            .expect("thread")
        };
        if BACKGROUND.load(Ordering::Relaxed) == 0 {
            assert_eq!(background_nice(), base, "no search served: nothing yields");
        }
        favour_searches(SEARCHES_FIRST_NICE);
        assert_eq!(background_nice(), (base + SEARCHES_FIRST_NICE).min(19));
        let pool = SearchPool::new(1).expect("pool");
        assert_eq!(pool.run(|| Ok(thread_nice()?)).await.expect("search"), base);
    }

    #[actix_web::test]
    async fn test_jobs_run_at_most_threads_at_once_and_survive_a_panic() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let pool = Arc::new(SearchPool::new(2).expect("pool"));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let calls: Vec<_> = (0..8)
            .map(|n| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                actix_web::rt::spawn(async move {
                    pool.run(move || {
                        most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, SeqCst);
                        Ok(n * 10)
                    })
                    .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await.expect("task").expect("result"));
        }
        assert_eq!(results, (0..8).map(|n| n * 10).collect::<Vec<_>>());
        assert_eq!(most.load(SeqCst), 2, "both threads work, never more");

        let panicked = pool.run(|| -> Result<()> { panic!("a bug in one search") }).await;
        assert!(panicked.is_err(), "a panic is an error for its request");
        for _ in 0..4 {
            assert_eq!(pool.run(|| Ok(7)).await.expect("the threads still serve"), 7);
        }
    }
}
