//! Communicators: the two collectives the sharded score needs, over MPI (feature `mpi`) or over threads
//! of one process (tests, and a single machine simulating R ranks bit for bit).

use crate::error::{Error, Result};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// A group of ranks that can exchange f64 buffers. MPI only moves bytes here: every reduction is done by
/// the caller in a fixed order, so results do not depend on the MPI library (distributed.md).
pub trait Comm: Send + Sync {
    /// This rank, 0 ≤ rank < size.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Personalised all-to-all: `send[r]` goes to rank r; returns the buffers every rank sent to this one,
    /// in rank order (MPI `Alltoallv`).
    fn all_to_all(&self, send: Vec<Vec<f64>>) -> Result<Vec<Vec<f64>>>;
    /// Every rank's buffer, in rank order, on every rank (MPI `Allgatherv`).
    fn all_gather(&self, send: &[f64]) -> Result<Vec<Vec<f64>>>;
    /// A short description ("MPI, 3 ranks").
    fn describe(&self) -> String {
        format!("{} ranks", self.size())
    }
}

/// One rank of a group of ranks simulated by threads of this process, connected by channels (one per
/// ordered pair of ranks, so messages between two ranks stay in order). Each rank must run on its own
/// thread; [`simulate`] does that.
pub struct ThreadComm {
    rank: usize,
    size: usize,
    to: Vec<Sender<Vec<f64>>>,
    from: Vec<Mutex<Receiver<Vec<f64>>>>,
}

impl ThreadComm {
    /// The `size` ranks of a new group (rank r is element r).
    pub fn group(size: usize) -> Vec<ThreadComm> {
        let mut senders: Vec<Vec<Option<Sender<Vec<f64>>>>> = (0..size)
            .map(|_| (0..size).map(|_| None).collect())
            .collect();
        let mut receivers: Vec<Vec<Option<Receiver<Vec<f64>>>>> = (0..size)
            .map(|_| (0..size).map(|_| None).collect())
            .collect();
        for from in 0..size {
            for to in 0..size {
                let (tx, rx) = channel();
                senders[from][to] = Some(tx);
                receivers[to][from] = Some(rx);
            }
        }
        senders
            .into_iter()
            .zip(receivers)
            .enumerate()
            .map(|(rank, (tx, rx))| ThreadComm {
                rank,
                size,
                to: tx.into_iter().flatten().collect(),
                from: rx.into_iter().flatten().map(Mutex::new).collect(),
            })
            .collect()
    }

    fn recv(&self, from: usize, what: &str) -> Result<Vec<f64>> {
        let rx = self.from[from]
            .lock()
            .map_err(|_| comm_error(what, "poisoned"))?;
        rx.recv()
            .map_err(|_| comm_error(what, &format!("rank {from} hung up")))
    }

    fn send(&self, to: usize, buf: Vec<f64>, what: &str) -> Result<()> {
        self.to[to]
            .send(buf)
            .map_err(|_| comm_error(what, &format!("rank {to} hung up")))
    }
}

/// The error of an all-to-all given `buffers` buffers for `size` ranks, if they differ.
pub(super) fn check_buffers(buffers: usize, size: usize) -> Result<()> {
    if buffers != size {
        return Err(comm_error(
            "all_to_all",
            &format!("{buffers} buffers for {size} ranks"),
        ));
    }
    Ok(())
}

fn comm_error(what: &str, detail: &str) -> Error {
    Error::Comm {
        what: what.into(),
        detail: detail.into(),
    }
}

impl Comm for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_to_all(&self, send: Vec<Vec<f64>>) -> Result<Vec<Vec<f64>>> {
        check_buffers(send.len(), self.size)?;
        for (to, buf) in send.into_iter().enumerate() {
            self.send(to, buf, "all_to_all")?;
        }
        (0..self.size)
            .map(|from| self.recv(from, "all_to_all"))
            .collect()
    }

    fn all_gather(&self, send: &[f64]) -> Result<Vec<Vec<f64>>> {
        for to in 0..self.size {
            self.send(to, send.to_vec(), "all_gather")?;
        }
        (0..self.size)
            .map(|from| self.recv(from, "all_gather"))
            .collect()
    }

    fn describe(&self) -> String {
        format!("{} thread-simulated ranks", self.size)
    }
}

/// Runs `f` on `size` simulated ranks, each on its own thread with its [`ThreadComm`], and returns the
/// results in rank order (a panic on any rank is re-raised).
pub fn simulate<T: Send>(size: usize, f: impl Fn(Arc<dyn Comm>) -> T + Sync) -> Vec<T> {
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = ThreadComm::group(size)
            .into_iter()
            .map(|c| scope.spawn(move || f(Arc::new(c))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The single rank of a one-process group (no communication).
pub struct SelfComm;

impl Comm for SelfComm {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_to_all(&self, send: Vec<Vec<f64>>) -> Result<Vec<Vec<f64>>> {
        Ok(send)
    }
    fn all_gather(&self, send: &[f64]) -> Result<Vec<Vec<f64>>> {
        Ok(vec![send.to_vec()])
    }
    fn describe(&self) -> String {
        "one process".into()
    }
}

/// Boundaries of `parts` contiguous, balanced shards of `n` items: shard r is `b[r]..b[r + 1]` with
/// `b[r] = ⌊r·n/parts⌋` (shards may be empty when n < parts).
pub fn shard_bounds(n: usize, parts: usize) -> Vec<usize> {
    (0..=parts)
        .map(|r| ((r as u128 * n as u128) / parts.max(1) as u128) as usize)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_collectives_deliver_in_rank_order() {
        let out = simulate(3, |c| {
            let r = c.rank() as f64;
            let a2a = c
                .all_to_all((0..3).map(|to| vec![r * 10.0 + to as f64]).collect())
                .unwrap();
            let ag = c.all_gather(&vec![r; c.rank() + 1]).unwrap();
            (a2a, ag)
        });
        for (rank, (a2a, ag)) in out.into_iter().enumerate() {
            let want: Vec<Vec<f64>> = (0..3)
                .map(|from| vec![from as f64 * 10.0 + rank as f64])
                .collect();
            assert_eq!(a2a, want);
            assert_eq!(ag, vec![vec![0.0], vec![1.0, 1.0], vec![2.0, 2.0, 2.0]]);
        }
    }

    #[test]
    fn shard_bounds_cover_everything_once() {
        assert_eq!(shard_bounds(10, 3), vec![0, 3, 6, 10]);
        assert_eq!(shard_bounds(3, 5), vec![0, 0, 1, 1, 2, 3]);
        assert_eq!(shard_bounds(7, 1), vec![0, 7]);
    }
}
