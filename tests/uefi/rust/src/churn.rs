//! The Rust side alone: `Vec`, `String`, `BTreeMap`, `Box<[u8]>` churned with mixed sizes,
//! types of alignment 64 and 4096, growth and `shrink_to_fit`, zeroed allocations. Contents are
//! checked at every step, and `live_bytes` against an independent count of the blocks' sizes.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use uefi_pool_alloc::PoolAllocator;

use crate::report::{check, check_eq};
use crate::util::{Line, Page, Rng, aligned, fill, mismatch, pattern};

const SLOTS: usize = 48;
const OPERATIONS: usize = 3000;

/// What the churn holds in one slot.
enum Obj {
    Bytes(Vec<u8>, u8),
    Text(String, u8),
    Boxed(Box<[u8]>, u8),
    Map(BTreeMap<u32, Box<[u8]>>),
    Lines(Vec<Line>, u8),
    Pages(Vec<Page>, u8),
}

/// Counts of what the churn saw; the first failure is kept without allocating.
#[derive(Default)]
struct Tally {
    checks: u64,
    failures: u64,
    first: Option<(usize, &'static str)>,
    shrinks: u64,
    moved_shrinks: u64,
    grows: u64,
    grows_in_place: u64,
    peak_blocks: u64,
}

impl Tally {
    fn expect(&mut self, ok: bool, op: usize, what: &'static str) {
        self.checks += 1;
        if !ok {
            self.failures += 1;
            self.first.get_or_insert((op, what));
        }
    }

    /// `Vec::push`, noting whether a growth of the block kept its address.
    fn push<T>(&mut self, v: &mut Vec<T>, value: T) {
        let (before, capacity) = (v.as_ptr(), v.capacity());
        v.push(value);
        if capacity != 0 && v.capacity() != capacity {
            self.grows += 1;
            self.grows_in_place += u64::from(v.as_ptr() == before);
        }
    }

    /// `truncate` + `shrink_to_fit`, noting whether the block moved.
    fn shrink<T>(&mut self, v: &mut Vec<T>, len: usize) {
        v.truncate(len);
        let (before, slack) = (v.as_ptr(), v.capacity() > len);
        v.shrink_to_fit();
        if len > 0 && slack {
            self.shrinks += 1;
            self.moved_shrinks += u64::from(v.as_ptr() != before);
        }
    }
}

/// Mostly small, some medium, a few large.
fn random_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..70 => rng.below(256),
        70..95 => 256 + rng.below(8000),
        _ => 8192 + rng.below(120_000),
    }
}

fn letter(seed: u8, index: usize) -> u8 {
    b'a' + pattern(seed, index) % 26
}

fn map_value(key: u32) -> Box<[u8]> {
    let mut value = vec![0u8; key as usize % 300];
    fill(&mut value, key as u8);
    value.into_boxed_slice()
}

fn extend_bytes(v: &mut Vec<u8>, seed: u8, more: usize) {
    for index in v.len()..v.len() + more {
        v.push(pattern(seed, index));
    }
}

impl Obj {
    fn new(rng: &mut Rng, tally: &mut Tally) -> Obj {
        let seed = rng.byte();
        match rng.below(6) {
            0 => {
                let n = random_size(rng);
                if rng.below(2) == 0 {
                    let mut v = Vec::new();
                    extend_bytes(&mut v, seed, n);
                    Obj::Bytes(v, seed)
                } else {
                    Obj::Bytes((0..n).map(|i| pattern(seed, i)).collect(), seed)
                }
            }
            1 => {
                let mut s = String::new();
                (0..random_size(rng) % 4000).for_each(|i| s.push(char::from(letter(seed, i))));
                Obj::Text(s, seed)
            }
            2 => {
                let mut v = vec![0u8; random_size(rng)];
                fill(&mut v, seed);
                Obj::Boxed(v.into_boxed_slice(), seed)
            }
            3 => {
                let mut map = BTreeMap::new();
                for _ in 0..rng.below(40) {
                    let key = rng.below(10_000) as u32;
                    map.insert(key, map_value(key));
                }
                Obj::Map(map)
            }
            4 => {
                let mut v = Vec::new();
                (0..rng.below(50)).for_each(|i| tally.push(&mut v, Line::nth(seed, i)));
                Obj::Lines(v, seed)
            }
            _ => {
                let mut v = Vec::new();
                (0..1 + rng.below(3)).for_each(|i| tally.push(&mut v, Page::nth(seed, i)));
                Obj::Pages(v, seed)
            }
        }
    }

    fn mutate(&mut self, rng: &mut Rng, tally: &mut Tally) {
        let grow = rng.below(2) == 0;
        match self {
            Obj::Bytes(v, seed) if grow => extend_bytes(v, *seed, random_size(rng) / 4),
            Obj::Bytes(v, _) => tally.shrink(v, rng.below(v.len() + 1)),
            Obj::Text(s, seed) if grow => (s.len()..s.len() + rng.below(500))
                .for_each(|i| s.push(char::from(letter(*seed, i)))),
            Obj::Text(s, _) => {
                s.truncate(rng.below(s.len() + 1));
                let (before, slack) = (s.as_ptr(), s.capacity() > s.len());
                s.shrink_to_fit();
                if !s.is_empty() && slack {
                    tally.shrinks += 1;
                    tally.moved_shrinks += u64::from(s.as_ptr() != before);
                }
            }
            Obj::Boxed(b, seed) => {
                // Through a Vec and back: into_boxed_slice shrinks the block to the length.
                let mut v = core::mem::take(b).into_vec();
                extend_bytes(&mut v, *seed, rng.below(300));
                *b = v.into_boxed_slice();
            }
            Obj::Map(map) if grow => {
                for _ in 0..rng.below(20) {
                    let key = rng.below(10_000) as u32;
                    map.insert(key, map_value(key));
                }
            }
            Obj::Map(map) => {
                for _ in 0..rng.below(20) {
                    let key = rng.below(10_000) as u32;
                    map.remove(&key);
                }
            }
            Obj::Lines(v, seed) if grow => (v.len()..v.len() + 1 + rng.below(20))
                .for_each(|i| tally.push(v, Line::nth(*seed, i))),
            Obj::Lines(v, _) => tally.shrink(v, rng.below(v.len() + 1)),
            Obj::Pages(v, seed) if grow && v.len() < 6 => {
                (v.len()..v.len() + 1).for_each(|i| tally.push(v, Page::nth(*seed, i)))
            }
            Obj::Pages(v, _) => tally.shrink(v, rng.below(v.len() + 1)),
        }
    }

    fn verify(&self, tally: &mut Tally, op: usize) {
        match self {
            Obj::Bytes(v, seed) => {
                tally.expect(mismatch(v, *seed).is_none(), op, "Vec<u8> contents")
            }
            Obj::Text(s, seed) => tally.expect(
                s.bytes().enumerate().all(|(i, b)| b == letter(*seed, i)),
                op,
                "String contents",
            ),
            Obj::Boxed(b, seed) => {
                tally.expect(mismatch(b, *seed).is_none(), op, "Box<[u8]> contents")
            }
            Obj::Map(map) => tally.expect(
                map.iter().all(|(&key, value)| {
                    value.len() == key as usize % 300 && mismatch(value, key as u8).is_none()
                }),
                op,
                "BTreeMap values",
            ),
            Obj::Lines(v, seed) => {
                tally.expect(aligned(v.as_ptr(), 64), op, "Vec<Line> alignment");
                tally.expect(
                    v.iter().enumerate().all(|(i, line)| line.is_nth(*seed, i)),
                    op,
                    "Vec<Line> contents",
                );
            }
            Obj::Pages(v, seed) => {
                tally.expect(aligned(v.as_ptr(), 4096), op, "Vec<Page> alignment");
                tally.expect(
                    v.iter().enumerate().all(|(i, page)| page.is_nth(*seed, i)),
                    op,
                    "Vec<Page> contents",
                );
            }
        }
    }
}

/// Random creation, mutation and dropping of every kind of object in a fixed set of slots.
pub fn run(a: &PoolAllocator) {
    let start = a.stats();
    let tracked = crate::app::COUNTED.tracked();
    let mut rng = Rng::new(0x5EED_1234_ABCD_0001);
    let mut tally = Tally::default();
    let mut slots: Vec<Option<Obj>> = (0..SLOTS).map(|_| None).collect();
    for op in 0..OPERATIONS {
        let slot = &mut slots[rng.below(SLOTS)];
        match slot {
            None => *slot = Some(Obj::new(&mut rng, &mut tally)),
            Some(obj) if rng.below(100) < 35 => {
                obj.verify(&mut tally, op);
                *slot = None;
            }
            Some(obj) => {
                obj.mutate(&mut rng, &mut tally);
                obj.verify(&mut tally, op);
            }
        }
        if op % 100 == 99 {
            let held = crate::app::COUNTED.tracked() - tracked;
            let now = a.stats();
            tally.expect(
                now.live_bytes == start.live_bytes + held,
                op,
                "live_bytes != the layouts' sizes of the blocks the library tracks",
            );
            tally.peak_blocks = tally.peak_blocks.max(now.live_blocks - start.live_blocks);
        }
    }
    for obj in slots.iter().flatten() {
        obj.verify(&mut tally, OPERATIONS);
    }
    drop(slots);

    let (op, what) = tally.first.unwrap_or((0, ""));
    check(
        tally.failures == 0,
        format_args!(
            "churn: {OPERATIONS} seeded operations on Vec<u8>, String, Box<[u8]>, BTreeMap, \
             Vec<align 64>, Vec<align 4096>: {} content, alignment and live_bytes checks",
            tally.checks
        ),
        format_args!(
            "{} failed, the first at operation {op}: {what}",
            tally.failures
        ),
    );
    check(
        tally.moved_shrinks == 0,
        format_args!(
            "churn: shrink_to_fit kept every block in place ({} shrinks)",
            tally.shrinks
        ),
        format_args!("{} of them moved", tally.moved_shrinks),
    );
    info!(
        "churn: up to {} live blocks; aligned Vec growth in place {} of {} times",
        tally.peak_blocks, tally.grows_in_place, tally.grows
    );
    let end = a.stats();
    check_eq(
        (end.live_blocks, end.live_bytes),
        (start.live_blocks, start.live_bytes),
        "churn: live_blocks and live_bytes back to their start",
    );
}

/// `Box` and `Vec` of `#[repr(align(64))]` and `#[repr(align(4096))]` types, and of `u128`.
pub fn aligned_types(a: &PoolAllocator) {
    let start = a.stats();

    let boxes: Vec<Box<Line>> = (0..16).map(|i| Box::new(Line::nth(9, i))).collect();
    // The Vec of 16 pointers comes from the front too.
    let vec_bytes = (boxes.capacity() * size_of::<Box<Line>>()) as u64;
    check(
        boxes
            .iter()
            .enumerate()
            .all(|(i, b)| aligned(&**b, 64) && b.is_nth(9, i)),
        "Box<align 64> x16: aligned, contents intact",
        "misaligned or overwritten",
    );
    check_eq(
        a.stats().live_bytes - start.live_bytes,
        16 * 64 + vec_bytes,
        "Box<align 64> x16: live_bytes grew by 16 * 64 and the Vec's 16 pointers",
    );
    drop(boxes);

    let pages: Vec<Box<Page>> = (0..4).map(|i| Box::new(Page::nth(3, i))).collect();
    check(
        pages
            .iter()
            .enumerate()
            .all(|(i, b)| aligned(&**b, 4096) && b.is_nth(3, i)),
        "Box<align 4096> x4: aligned, contents intact",
        "misaligned or overwritten",
    );
    drop(pages);

    vec_of::<Line>(
        a,
        "Vec<align 64>",
        300,
        &[200, 120, 33, 1],
        Line::nth,
        Line::is_nth,
    );
    vec_of::<Page>(
        a,
        "Vec<align 4096>",
        10,
        &[6, 2, 1],
        Page::nth,
        Page::is_nth,
    );
    vec_of::<u128>(
        a,
        "Vec<u128> (align 16)",
        3000,
        &[2000, 700, 3],
        |seed, i| u128::from(pattern(seed, i)) * 0x0101_0101_0101_0101_0101_0101_0101_0101,
        |value, seed, i| {
            *value == u128::from(pattern(seed, i)) * 0x0101_0101_0101_0101_0101_0101_0101_0101
        },
    );

    let end = a.stats();
    check_eq(
        (end.live_blocks, end.live_bytes),
        (start.live_blocks, start.live_bytes),
        "aligned types: live_blocks and live_bytes back to their start",
    );
}

/// Grows a `Vec<T>` element by element to `count`, checking alignment and every element at each
/// step and `live_bytes` against its capacity; then shrinks it through `shrinks` with
/// `shrink_to_fit`, which must keep it in place.
fn vec_of<T>(
    a: &PoolAllocator,
    name: &str,
    count: usize,
    shrinks: &[usize],
    make: impl Fn(u8, usize) -> T,
    is: impl Fn(&T, u8, usize) -> bool,
) {
    const SEED: u8 = 0x42;
    let align = align_of::<T>();
    let start = a.stats();
    let mut tally = Tally::default();
    let mut v = Vec::new();
    for step in 0..count {
        tally.push(&mut v, make(SEED, step));
        tally.expect(aligned(v.as_ptr(), align), step, "misaligned");
        tally.expect(
            v.iter().enumerate().all(|(i, x)| is(x, SEED, i)),
            step,
            "contents changed",
        );
        let counted = a.stats().live_bytes - start.live_bytes;
        let held = (v.capacity() * size_of::<T>()) as u64;
        tally.expect(counted == held, step, "live_bytes != capacity * size");
    }
    let (step, what) = tally.first.unwrap_or((0, ""));
    check(
        tally.failures == 0,
        format_args!(
            "{name}: push x{count}, aligned to {align} with contents and live_bytes right at \
             every step (grew in place {} of {} times)",
            tally.grows_in_place, tally.grows
        ),
        format_args!(
            "{} failures, the first at element {step}: {what}",
            tally.failures
        ),
    );

    let mut tally = Tally::default();
    for &len in shrinks {
        let before = v.as_ptr();
        v.truncate(len);
        v.shrink_to_fit();
        tally.expect(v.as_ptr() == before, len, "moved");
        tally.expect(v.capacity() == len, len, "capacity != length");
        tally.expect(aligned(v.as_ptr(), align), len, "misaligned");
        tally.expect(
            v.iter().enumerate().all(|(i, x)| is(x, SEED, i)),
            len,
            "contents changed",
        );
        let counted = a.stats().live_bytes - start.live_bytes;
        tally.expect(
            counted == (len * size_of::<T>()) as u64,
            len,
            "live_bytes != len * size",
        );
    }
    let (len, what) = tally.first.unwrap_or((0, ""));
    check(
        tally.failures == 0,
        format_args!(
            "{name}: shrink_to_fit to {shrinks:?} in place, contents and live_bytes right"
        ),
        format_args!(
            "{} failures, the first at length {len}: {what}",
            tally.failures
        ),
    );
}

/// `Vec<u8>`, `String`: growth from empty (contents checked at every step) and `shrink_to_fit`,
/// which keeps raw-path blocks in place.
pub fn grow_and_shrink(a: &PoolAllocator) {
    const SEED: u8 = 0x17;
    const COUNT: usize = 20_000;
    let start = a.stats();
    let mut tally = Tally::default();
    let mut v: Vec<u8> = Vec::new();
    let mut moves = 0;
    for index in 0..COUNT {
        let (before, capacity) = (v.as_ptr(), v.capacity());
        v.push(pattern(SEED, index));
        if v.capacity() != capacity {
            moves += u64::from(capacity != 0 && v.as_ptr() != before);
            // Reallocated: every byte must have come along.
            tally.expect(
                mismatch(&v, SEED).is_none(),
                index,
                "contents lost in a growth",
            );
        } else {
            tally.expect(v[index] == pattern(SEED, index), index, "last byte");
        }
    }
    check(
        tally.failures == 0 && mismatch(&v, SEED).is_none(),
        format_args!(
            "Vec<u8>: push x{COUNT} from empty, contents intact after each of {moves} moves"
        ),
        format_args!(
            "{} failures, the first at {:?}",
            tally.failures, tally.first
        ),
    );
    let mut tally = Tally::default();
    for len in [15_000, 9000, 4000, 1000, 100, 1] {
        let before = v.as_ptr();
        v.truncate(len);
        v.shrink_to_fit();
        tally.expect(v.as_ptr() == before, len, "moved");
        tally.expect(v.capacity() == len, len, "capacity != length");
        tally.expect(mismatch(&v, SEED).is_none(), len, "contents changed");
    }
    check(
        tally.failures == 0,
        "Vec<u8>: shrink_to_fit 20000 -> 15000 -> ... -> 1 in place, contents intact",
        format_args!(
            "{} failures, the first at {:?}",
            tally.failures, tally.first
        ),
    );
    drop(v);

    let mut s = String::new();
    let mut ok = true;
    for _ in 0..400 {
        let start_len = s.len();
        s.push_str("the quick brown fox jumps over the lazy dog, ");
        ok &= s.len() == start_len + 45 && s.starts_with("the quick") && s.ends_with("dog, ");
    }
    ok &= s.len() == 400 * 45
        && s.as_bytes()
            .chunks(45)
            .all(|c| c == b"the quick brown fox jumps over the lazy dog, ");
    s.truncate(450);
    let before = s.as_ptr();
    s.shrink_to_fit();
    check(
        ok && s.as_ptr() == before && s.capacity() == 450 && s.ends_with("dog, "),
        "String: push_str x400, then shrink_to_fit in place",
        "contents or place changed",
    );
    drop(s);

    let end = a.stats();
    check_eq(
        (end.live_blocks, end.live_bytes),
        (start.live_blocks, start.live_bytes),
        "growth and shrink: live_blocks and live_bytes back to their start",
    );
}

/// `alloc_zeroed` on every path, into memory that was just dirtied and freed.
pub fn zeroed() {
    for n in [1, 24, 100, 4000, 70_000, 1 << 20] {
        drop(vec![0xA5u8; n]);
        let z = vec![0u8; n];
        check(
            z.iter().all(|&b| b == 0),
            format_args!("vec![0u8; {n}] (alloc_zeroed, raw path) is zero"),
            "non-zero byte",
        );
    }
    drop(Box::new([0x5Au8; 4096]));
    // SAFETY: all-zero bytes are a valid [u8; 4096].
    let b = unsafe { Box::<[u8; 4096]>::new_zeroed().assume_init() };
    check(
        b.iter().all(|&x| x == 0),
        "Box::<[u8; 4096]>::new_zeroed is zero",
        "non-zero byte",
    );
    drop(b);

    drop(Box::new(Line([0xFF; 64])));
    // SAFETY: all-zero bytes are a valid Line.
    let line = unsafe { Box::<Line>::new_zeroed().assume_init() };
    check(
        aligned(&*line, 64) && line.0.iter().all(|&x| x == 0),
        "Box::<align 64>::new_zeroed: aligned and zero",
        "misaligned or non-zero",
    );
    drop(line);

    drop(Box::new(Page([0xFF; 4096])));
    // SAFETY: all-zero bytes are a valid Page.
    let page = unsafe { Box::<Page>::new_zeroed().assume_init() };
    check(
        aligned(&*page, 4096) && page.0.iter().all(|&x| x == 0),
        "Box::<align 4096>::new_zeroed: aligned and zero",
        "misaligned or non-zero",
    );
    drop(page);

    drop(vec![Line([0xEE; 64]); 40]);
    // SAFETY: all-zero bytes are valid Lines.
    let lines = unsafe { Box::<[Line]>::new_zeroed_slice(40).assume_init() };
    check(
        aligned(lines.as_ptr(), 64) && lines.iter().all(|l| l.0.iter().all(|&x| x == 0)),
        "Box::<[align 64]>::new_zeroed_slice(40): aligned and zero",
        "misaligned or non-zero",
    );
    drop(lines);

    drop(vec![u128::MAX; 500]);
    let wide = vec![0u128; 500];
    check(
        aligned(wide.as_ptr(), 16) && wide.iter().all(|&x| x == 0),
        "vec![0u128; 500] (alloc_zeroed, align 16): aligned and zero",
        "misaligned or non-zero",
    );
}
