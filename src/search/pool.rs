//! A fixed set of threads that run searches.
//!
//! A search is CPU work of a few milliseconds; run on actix's blocking pool (`web::block`) it
//! got a thread per concurrent call: 32 threads under 8 national-scale clients on 2 cores, each
//! with its own allocator heap keeping freed pages (resident memory 1.9 → 2.3 GiB after a 30 s
//! load), all time-sliced on the same cores. Here at most `threads` searches run at once and the
//! others wait in line, in arrival order. Writes stay on the blocking pool: they wait for the
//! single writer's group commit, which must not hold a search thread.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

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

    /// The default size: two threads per core, so that a search reading pages of the store
    /// leaves the core to another.
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
        let job: Job = Box::new(move || {
            if let Ok(result) = std::panic::catch_unwind(AssertUnwindSafe(work)) {
                let _ = reply.send(result);
            }
        });
        self.jobs.send(job).map_err(|_| Error::internal("the search threads have stopped"))?;
        answer.await.map_err(|_| Error::internal("the search failed unexpectedly"))?
    }
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
