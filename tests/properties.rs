//! Random operation sequences against a model: alignment, no overlap, contents preserved by
//! realloc and shrink, statistics exact, nothing leaked, on every residue pattern.

mod common;

use common::model::{free_all, run};
use common::*;

#[test]
fn random_sequences_keep_every_invariant() {
    let residues = [
        Residue::Edk2,
        Residue::Random,
        Residue::Alternating,
        Residue::Fixed(0),
        Residue::Fixed(2040),
    ];
    for seed in 0..scaled(40, 2) as u64 {
        let residue = residues[seed as usize % residues.len()];
        let fw = Booted::new(SimConfig {
            residue,
            seed,
            ..SimConfig::default()
        });
        let before = stats();
        let live = run(seed, scaled(600, 60), false, &fw.sim);
        let during = stats();
        let known: usize = live.iter().filter(|b| !b.raw).map(|b| b.size).sum();
        assert_eq!(
            during.live_blocks - before.live_blocks,
            live.len() as u64,
            "seed {seed}: live blocks"
        );
        assert_eq!(
            during.live_bytes - before.live_bytes,
            known as u64,
            "seed {seed}: live bytes"
        );
        assert!(during.peak_bytes >= during.live_bytes);
        free_all(live);
        let after = stats();
        assert_eq!(
            (after.live_blocks, after.live_bytes),
            (before.live_blocks, before.live_bytes)
        );
        assert_eq!(
            after.invalid_calls, before.invalid_calls,
            "seed {seed}: no call was refused"
        );
        fw.assert_clean();
        fw.assert_no_leaks();
    }
}
