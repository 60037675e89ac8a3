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
//!
//! Or requests can take the CPU at once (`limits.search_priority = "realtime"`, off by
//! default): the search threads and the HTTP workers run under `SCHED_FIFO` 3, the group commit
//! under 2 and the request work the workers hand to actix's blocking threads (a write's
//! preparation) under 1. A search that becomes ready then preempts the writes, and exports,
//! reindex, indicators and tantivy merges run normal on the CPU requests and commits leave.
//! Measured on the region corpus (500 searches/s during 2,000 capacity PATCH/s, the load
//! generator on the same 2 cores, README "Benchmarks"): search p99 during the storm -10 % to
//! +140 % of its value without writes (five runs, four within +57 %), against +339 % to +496 % at
//! normal priority, with 1,879–2,002 PATCH/s. All request work at one level with the group commit
//! normal kept the searches within -13 %..+19 % but starved the commit (waiting for a CPU 4.2 s
//! of 8) and the storm fell to 1,342–2,003 PATCH/s; with the writes' preparation normal too
//! (reset on fork) it held 2,000 PATCH/s but the search p99 rose by +81 %..+228 %.
//! Under more searches than the cores serve, the writes wait, and the normal threads (exports,
//! merges, the kernel's own workers) only get what the kernel's real-time throttling leaves (5 %
//! of each second by default). It needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` of at least 1 (systemd:
//! `LimitRTPRIO=1`); the service refuses to start when asked for it without.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
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

/// How the threads that serve searches are scheduled (`limits.search_priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchPriority {
    /// Searches share the cores with everything else, as the kernel decides.
    #[default]
    Normal,
    /// Search threads and HTTP workers run at real-time priority (see the module docs).
    Realtime,
}

pub struct SearchPool {
    jobs: Sender<Job>,
    threads: usize,
    priority: SearchPriority,
}

impl SearchPool {
    /// Start `threads` search threads; with [`SearchPriority::Realtime`], fails when the process
    /// may not take real-time priority (every thread has it, or none is left running).
    pub fn new(threads: usize, priority: SearchPriority) -> Result<SearchPool> {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(parking_lot::Mutex::new(queue));
        for index in 0..threads {
            let queue = queue.clone();
            // On a refusal, returning drops `jobs`, which ends the threads already started.
            spawn_prioritized(
                format!("ror-search-{index}"),
                move || take_priority(priority, SEARCH_PRIORITY),
                move || serve(&queue),
            )?;
        }
        Ok(SearchPool { jobs, threads, priority })
    }

    pub fn priority(&self) -> SearchPriority {
        self.priority
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
    static SERVES_SEARCHES: Cell<bool> = const { Cell::new(false) };
}

/// Called by an HTTP worker for each request it serves: with [`SearchPriority::Realtime`], the
/// worker takes real-time priority on its first request. Workers read, parse and answer every
/// search; at normal priority they would make a ready search wait behind the writes anyway.
pub fn serve_searches_from_this_thread(priority: SearchPriority) {
    if priority == SearchPriority::Normal || SERVES_SEARCHES.with(|serves| serves.replace(true)) {
        return;
    }
    if let Err(error) = take_realtime_priority() {
        tracing::warn!(%error, "an HTTP worker could not take real-time priority");
    }
}

fn realtime_refused(error: &std::io::Error) -> String {
    format!(
        "limits.search_priority = \"realtime\": the service's threads could not take real-time \
         priority ({error}); grant CAP_SYS_NICE or an RLIMIT_RTPRIO of at least 1 (systemd: \
         LimitRTPRIO=1), or use \"normal\""
    )
}

/// Real-time priorities (`SCHED_FIFO`) with `limits.search_priority = "realtime"`, highest
/// first. The group commit comes before the writes' preparation: every prepared write waits for
/// it, and below them it waited for a CPU more than half the time during a PATCH storm (4.25 s
/// of 8, against 2.9 s running), the writes queueing behind it.
const SEARCH_PRIORITY: i32 = 3;
const COMMIT_PRIORITY: i32 = 2;
const PREPARATION_PRIORITY: i32 = 1;

/// Put the calling thread under `SCHED_FIFO` at the searches' priority. The threads it starts
/// inherit it: actix's blocking threads, which prepare the writes (parse, patch, validate,
/// extract) as part of answering a request, step down to the preparation priority
/// ([`yield_to_searches_unless_realtime`]); threads that go on to long background work
/// (exports, reindex) leave real-time priority ([`yield_to_searches`]).
/// (Public for the load generator, whose measuring threads need the same priority.)
pub fn take_realtime_priority() -> std::io::Result<()> {
    set_thread_policy(Policy::Fifo(SEARCH_PRIORITY))
}

/// Called by the group commit thread as it starts: with [`SearchPriority::Realtime`] it runs
/// real-time below the searches and above the writes' preparation; otherwise it yields to
/// searches as any background thread.
pub fn take_commit_priority(priority: SearchPriority) -> Result<()> {
    if priority == SearchPriority::Normal {
        yield_to_searches();
    }
    take_priority(priority, COMMIT_PRIORITY)
}

/// `level` under [`SearchPriority::Realtime`], nothing otherwise.
fn take_priority(priority: SearchPriority, level: i32) -> Result<()> {
    match priority {
        SearchPriority::Normal => Ok(()),
        SearchPriority::Realtime => {
            set_thread_policy(Policy::Fifo(level)).map_err(|error| Error::internal(realtime_refused(&error)))
        }
    }
}

/// Start a thread named `name` that first takes its scheduling (`prioritize`), then runs
/// `work`. Returns once the thread has taken it, or with its refusal (the thread then ends
/// without running `work`): a service asked for real-time priority does not start without it.
pub fn spawn_prioritized(
    name: String,
    prioritize: impl FnOnce() -> Result<()> + Send + 'static,
    work: impl FnOnce() + Send + 'static,
) -> Result<()> {
    let (started, outcome) = mpsc::sync_channel::<Result<()>>(1);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let prioritized = prioritize();
            let refused = prioritized.is_err();
            let _ = started.send(prioritized);
            if !refused {
                work();
            }
        })
        .map_err(Error::internal)?;
    outcome.recv().map_err(|_| Error::internal("a thread ended before taking its priority"))?
}

#[derive(Clone, Copy)]
enum Policy {
    Normal,
    Fifo(i32),
}

/// Whether any thread of the process took real-time priority: until one has, no thread can have
/// inherited it, and the background threads need not read their policy from `/proc`.
static REALTIME_TAKEN: AtomicBool = AtomicBool::new(false);

/// Whether the calling thread runs at real-time priority (inherited from the thread that started it).
fn runs_realtime() -> bool {
    REALTIME_TAKEN.load(Ordering::Relaxed) && thread_policy().is_ok_and(|policy| policy != 0)
}

/// The one use of `unsafe` in the crate: rustix does not wrap `sched_setscheduler`.
#[allow(unsafe_code)]
fn set_thread_policy(policy: Policy) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let (policy, sched_priority) = match policy {
            Policy::Normal => (libc::SCHED_OTHER, 0),
            Policy::Fifo(priority) => (libc::SCHED_FIFO, priority),
        };
        let parameters = libc::sched_param { sched_priority };
        // SAFETY: `parameters` is a valid `sched_param` that outlives the call, which only reads
        // it; pid 0 names the calling thread.
        let status = unsafe { libc::sched_setscheduler(0, policy, &parameters) };
        if status != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if policy == libc::SCHED_FIFO {
            REALTIME_TAKEN.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    match policy {
        Policy::Normal => Ok(()),
        Policy::Fifo(_) => {
            Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "real-time search threads need Linux"))
        }
    }
}

/// Fields of a `/proc/<pid>/task/<tid>/stat` line, numbered as proc(5) numbers them.
pub const STAT_RT_PRIORITY: usize = 40;
pub const STAT_POLICY: usize = 41;

/// Field `number` of a `/proc` stat line. The thread name, field 2, may hold spaces and
/// parentheses, so fields are counted after its closing parenthesis (field 3 on).
pub fn stat_field(stat: &str, number: usize) -> Option<u32> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(number.checked_sub(3)?)?.parse().ok()
}

fn own_stat_field(number: usize) -> std::io::Result<u32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
    stat_field(&stat, number).ok_or_else(|| std::io::Error::other("unexpected /proc stat line"))
}

/// The scheduling policy of the calling thread (0 normal, 1 `SCHED_FIFO`).
pub fn thread_policy() -> std::io::Result<u32> {
    own_stat_field(STAT_POLICY)
}

/// The real-time priority of the calling thread (0 for a normal thread).
pub fn thread_realtime_priority() -> std::io::Result<u32> {
    own_stat_field(STAT_RT_PRIORITY)
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
    if YIELDED.with(|yielded| yielded.replace(true)) {
        return;
    }
    // Started by a real-time search thread or HTTP worker (an export, a reindex): leaving that
    // priority is always permitted.
    if runs_realtime() {
        if let Err(error) = set_thread_policy(Policy::Normal) {
            tracing::warn!(%error, "a background thread could not leave real-time priority");
        }
    }
    let nice = BACKGROUND.load(Ordering::Relaxed);
    if nice == 0 {
        return;
    }
    if let Err(error) = lower_thread_priority(nice) {
        tracing::debug!(%error, "could not lower the priority of a background thread");
    }
}

/// Called on actix's blocking threads before request work (a write's preparation and its wait
/// for the commit, an export's plan): a thread that inherited real-time priority from an HTTP
/// worker stays real-time, since that work answers a request, at the preparation priority
/// (below the searches and the group commit); otherwise as [`yield_to_searches`].
pub fn yield_to_searches_unless_realtime() {
    if YIELDED.with(Cell::get) {
        return;
    }
    if runs_realtime() {
        YIELDED.with(|yielded| yielded.set(true));
        if let Err(error) = set_thread_policy(Policy::Fifo(PREPARATION_PRIORITY)) {
            tracing::warn!(%error, "a blocking thread could not step down to the preparation priority");
        }
        return;
    }
    yield_to_searches();
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
        let pool = Arc::new(SearchPool::new(1, SearchPriority::Normal).expect("pool"));
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
        let pool = SearchPool::new(1, SearchPriority::Normal).expect("pool");
        assert_eq!(pool.run(|| Ok(thread_nice()?)).await.expect("search"), base);
    }

    /// Real-time search threads run under `SCHED_FIFO`, and so do the threads they start, unless
    /// those go on to background work; an HTTP worker takes the priority on its first request.
    /// Without the privilege (not root, no `RLIMIT_RTPRIO`) the pool refuses to start and names
    /// the setting.
    #[actix_web::test]
    async fn test_realtime_search_threads_and_what_their_children_keep_or_refuse_by_name() {
        match SearchPool::new(2, SearchPriority::Realtime) {
            Ok(pool) => {
                let scheduling = || Ok::<_, std::io::Error>((thread_policy()?, thread_realtime_priority()?));
                let policies = pool.run(move || {
                    let child = |work: fn()| {
                        std::thread::spawn(move || {
                            work();
                            scheduling()
                        })
                        .join()
                        .map_err(|_| Error::internal("child"))
                    };
                    let request_work = child(yield_to_searches_unless_realtime)??;
                    let background_work = child(yield_to_searches)??;
                    Ok((scheduling()?, request_work, background_work))
                });
                assert_eq!(policies.await.expect("search"), ((1, 3), (1, 1), (0, 0)));
                let worker = std::thread::spawn(move || {
                    let before = scheduling()?;
                    serve_searches_from_this_thread(SearchPriority::Realtime);
                    Ok::<_, std::io::Error>((before, scheduling()?))
                });
                assert_eq!(worker.join().expect("worker").expect("policy"), ((0, 0), (1, 3)));
                let committer = std::thread::spawn(move || {
                    take_commit_priority(SearchPriority::Realtime)?;
                    Ok::<_, Error>(scheduling()?)
                });
                assert_eq!(committer.join().expect("committer").expect("policy"), (1, 2));
            }
            Err(error) => {
                assert!(error.to_string().contains("limits.search_priority"), "{error}");
                let kernel_says = std::thread::spawn(take_realtime_priority).join().expect("thread");
                assert!(kernel_says.is_err(), "the pool refused what the kernel allows");
            }
        }
        let pool = SearchPool::new(1, SearchPriority::Normal).expect("pool");
        assert_eq!(pool.run(|| Ok(thread_policy()?)).await.expect("search"), 0);
        let worker = std::thread::spawn(|| {
            serve_searches_from_this_thread(SearchPriority::Normal);
            thread_policy()
        });
        assert_eq!(worker.join().expect("worker").expect("policy"), 0);
    }

    #[test]
    fn test_policy_is_read_after_the_thread_name() {
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[STAT_POLICY - 3] = "1".into();
        fields[STAT_RT_PRIORITY - 3] = "3".into();
        let line = format!("4242 (ror) (x) y) {}", fields.join(" "));
        assert_eq!((stat_field(&line, STAT_POLICY), stat_field(&line, STAT_RT_PRIORITY)), (Some(1), Some(3)));
        assert_eq!(stat_field("4242 (short) S 1", STAT_POLICY), None);
        assert_eq!(thread_policy().expect("own policy"), 0);
        assert_eq!(thread_realtime_priority().expect("own priority"), 0);
    }

    #[actix_web::test]
    async fn test_jobs_run_at_most_threads_at_once_and_survive_a_panic() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let pool = Arc::new(SearchPool::new(2, SearchPriority::Normal).expect("pool"));
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
