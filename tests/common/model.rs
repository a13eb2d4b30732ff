//! A model-checked random workload over every operation, shared by the property, fault
//! injection and re-entrancy tests.

use super::*;

/// A block the model expects to be live.
#[derive(Clone, Copy)]
pub struct Live {
    pub ptr: *mut u8,
    pub size: usize,
    pub align: usize,
    pub raw: bool,
    pub seed: u8,
}

/// Runs `ops` random operations from `seed`; a NULL from the library is acceptable only where
/// `may_fail` (fault injection), and then the model keeps the old state.
pub fn run(seed: u64, ops: usize, may_fail: bool, sim: &Sim) -> Vec<Live> {
    run_by(seed, ops, may_fail, sim, &mut |_, operation| operation())
}

/// [`run`], each operation run by `by(n, operation)`, with `n` a random number (the tests of
/// several images run it as image `n % images`).
pub fn run_by(
    seed: u64,
    ops: usize,
    may_fail: bool,
    sim: &Sim,
    by: &mut dyn FnMut(u64, &mut dyn FnMut()),
) -> Vec<Live> {
    let mut rng = Rng::new(seed);
    // Apart from `rng`, so that `run` makes the same operations whoever runs them.
    let mut choices = Rng::new(!seed);
    let mut live: Vec<Live> = Vec::new();
    for step in 0..ops {
        let chooser = choices.next();
        by(chooser, &mut || {
            operation(step, &mut rng, &mut live, may_fail, sim)
        });
        check_no_overlap(&live);
    }
    live
}

/// One random operation on the model's blocks.
fn operation(step: usize, rng: &mut Rng, live: &mut Vec<Live>, may_fail: bool, sim: &Sim) {
    let seed_byte = step as u8;
    match rng.below(10) {
        0..=3 if live.len() < 64 => {
            let align = rng.pick(&[1, 8, 16, 32, 64, 128, 256, 2048, 4096, 16384]);
            let size = if rng.below(20) == 0 {
                rng.size(100_000)
            } else {
                rng.size(3000)
            };
            let zeroed = rng.below(4) == 0;
            let ptr: *mut u8 = if zeroed {
                pool_aligned_calloc(1, size, align).cast()
            } else {
                alloc(size, align)
            };
            if ptr.is_null() {
                assert!(may_fail, "alloc {size} at {align}");
                return;
            }
            assert_eq!(ptr.addr() % align, 0);
            assert!(usable(ptr) >= size);
            if zeroed {
                assert!(
                    (0..size).all(|i| unsafe { ptr.add(i).read() } == 0),
                    "calloc zeroes"
                );
            }
            fill(ptr, size, seed_byte);
            live.push(Live {
                ptr,
                size,
                align,
                raw: false,
                seed: seed_byte,
            });
        }
        4 if live.len() < 64 => {
            let size = rng.size(5000);
            let ptr: *mut u8 = pool_raw_alloc(size).cast();
            if ptr.is_null() {
                assert!(may_fail);
                return;
            }
            assert_eq!(ptr.addr() % 8, 0);
            assert!(sim.block_contains(ptr, size.max(1)));
            fill(ptr, size, seed_byte);
            live.push(Live {
                ptr,
                size,
                align: 8,
                raw: true,
                seed: seed_byte,
            });
        }
        5 | 6 if !live.is_empty() => {
            let index = rng.below(live.len() as u64) as usize;
            let block = live[index];
            if block.raw {
                let new_size = rng.below(block.size as u64 + 1) as usize;
                assert_eq!(
                    unsafe { pool_shrink(block.ptr.cast(), block.size, new_size) },
                    1
                );
                live[index].size = new_size;
                return;
            }
            let new_size = if rng.below(3) == 0 {
                rng.size(block.size.max(1))
            } else {
                rng.size(20_000)
            };
            let moved = realloc(block.ptr, new_size);
            if moved.is_null() {
                assert!(may_fail, "realloc to {new_size}");
                assert!(
                    holds(block.ptr, block.size, block.seed),
                    "failed realloc kept the block"
                );
                return;
            }
            assert_eq!(moved.addr() % block.align, 0, "realloc keeps the alignment");
            assert!(
                holds(moved, block.size.min(new_size), block.seed),
                "realloc keeps the contents"
            );
            fill(moved, new_size, seed_byte);
            live[index] = Live {
                ptr: moved,
                size: new_size,
                seed: seed_byte,
                ..block
            };
        }
        7 if !live.is_empty() => {
            let index = rng.below(live.len() as u64) as usize;
            let block = live[index];
            let new_size = rng.below(block.size as u64 + 2) as usize;
            let shrunk = unsafe { pool_shrink(block.ptr.cast(), block.size, new_size) } != 0;
            assert_eq!(shrunk, new_size <= block.size);
            if shrunk {
                live[index].size = new_size;
            }
            assert!(
                holds(block.ptr, live[index].size, block.seed),
                "shrink keeps the contents"
            );
        }
        _ if !live.is_empty() => {
            let block = live.swap_remove(rng.below(live.len() as u64) as usize);
            assert!(
                holds(block.ptr, block.size, block.seed),
                "contents survived"
            );
            let status = if block.raw {
                unsafe { pool_raw_free(block.ptr.cast()) }
            } else {
                free(block.ptr)
            };
            assert_eq!(status, SUCCESS);
        }
        _ => {}
    }
}

fn check_no_overlap(live: &[Live]) {
    let mut ranges: Vec<(usize, usize)> = live
        .iter()
        .map(|b| (b.ptr.addr(), b.ptr.addr() + b.size.max(1)))
        .collect();
    ranges.sort_unstable();
    assert!(
        ranges.windows(2).all(|w| w[0].1 <= w[1].0),
        "live blocks overlap"
    );
}

/// Frees everything the model holds, checking contents.
pub fn free_all(live: Vec<Live>) {
    for block in live {
        assert!(holds(block.ptr, block.size, block.seed));
        let status = if block.raw {
            unsafe { pool_raw_free(block.ptr.cast()) }
        } else {
            free(block.ptr)
        };
        assert_eq!(status, SUCCESS);
    }
}
