//! [`Comm`] over MPI (rsmpi): `Alltoallv` and `Allgatherv` of f64 buffers, nothing else. Reductions are
//! never left to MPI (their order is not fixed across implementations), see [`super::ShardedScore`].

use super::comm::Comm;
use crate::error::{Error, Result};
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;
use std::sync::{Arc, Mutex};

/// The MPI world communicator of this process. MPI is initialised with `Threading::Serialized` (calls
/// from any thread, one at a time), and every call goes through the mutex, which is what makes sharing it
/// between threads sound. MPI is finalised when the last handle is dropped.
pub struct MpiComm {
    world: Mutex<SimpleCommunicator>,
    rank: usize,
    size: usize,
    _universe: Universe,
}

// SAFETY: the communicator handle is only used under `world`'s mutex, and MPI was initialised with at
// least `Threading::Serialized`, which permits MPI calls from any thread as long as they do not overlap.
unsafe impl Send for MpiComm {}
// SAFETY: as above; `&MpiComm` only reaches MPI through the mutex.
unsafe impl Sync for MpiComm {}

/// Initialises MPI (once per process) and returns the world communicator, or an error when MPI was
/// already initialised or the library cannot serialise calls from several threads.
pub fn mpi_world() -> Result<Arc<MpiComm>> {
    let fail = |detail: String| Error::Comm {
        what: "MPI initialisation".into(),
        detail,
    };
    let (universe, level) = mpi::initialize_with_threading(mpi::Threading::Serialized)
        .ok_or_else(|| fail("MPI was already initialised in this process".into()))?;
    if level < mpi::Threading::Serialized {
        return Err(fail(format!(
            "the MPI library grants {level:?}, and diffscope needs Serialized (calls from its worker threads)"
        )));
    }
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    Ok(Arc::new(MpiComm {
        world: Mutex::new(world),
        rank,
        size,
        _universe: universe,
    }))
}

fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |acc, &c| {
            let d = *acc;
            *acc += c;
            Some(d)
        })
        .collect()
}

fn count(n: usize) -> Result<Count> {
    Count::try_from(n).map_err(|_| Error::Comm {
        what: "MPI message".into(),
        detail: format!("{n} values exceed MPI's count limit"),
    })
}

impl MpiComm {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, SimpleCommunicator>> {
        self.world.lock().map_err(|_| Error::Comm {
            what: "MPI".into(),
            detail: "an earlier call panicked".into(),
        })
    }

    fn split(buf: Vec<f64>, counts: &[Count]) -> Vec<Vec<f64>> {
        let mut out = Vec::with_capacity(counts.len());
        let mut rest = &buf[..];
        for &c in counts {
            let (head, tail) = rest.split_at(c as usize);
            out.push(head.to_vec());
            rest = tail;
        }
        out
    }
}

impl Comm for MpiComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_to_all(&self, send: Vec<Vec<f64>>) -> Result<Vec<Vec<f64>>> {
        super::comm::check_buffers(send.len(), self.size)?;
        let world = self.lock()?;
        let send_counts: Vec<Count> = send.iter().map(|b| count(b.len())).collect::<Result<_>>()?;
        let mut recv_counts = vec![0 as Count; self.size];
        world.all_to_all_into(&send_counts[..], &mut recv_counts[..]);
        let flat: Vec<f64> = send.concat();
        let total: usize = recv_counts.iter().map(|&c| c as usize).sum();
        let mut recv = vec![0.0f64; total];
        {
            let sd = displacements(&send_counts);
            let rd = displacements(&recv_counts);
            let sp = Partition::new(&flat[..], &send_counts[..], &sd[..]);
            let mut rp = PartitionMut::new(&mut recv[..], &recv_counts[..], &rd[..]);
            world.all_to_all_varcount_into(&sp, &mut rp);
        }
        Ok(Self::split(recv, &recv_counts))
    }

    fn all_gather(&self, send: &[f64]) -> Result<Vec<Vec<f64>>> {
        let world = self.lock()?;
        let mine = count(send.len())?;
        let mut counts = vec![0 as Count; self.size];
        world.all_gather_into(&mine, &mut counts[..]);
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let mut recv = vec![0.0f64; total];
        {
            let displs = displacements(&counts);
            let mut rp = PartitionMut::new(&mut recv[..], &counts[..], &displs[..]);
            world.all_gather_varcount_into(send, &mut rp);
        }
        Ok(Self::split(recv, &counts))
    }

    fn describe(&self) -> String {
        format!("MPI, {} ranks", self.size)
    }
}
