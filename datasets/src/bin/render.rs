//! `render`: render a synthetic dataset to MDS shards (work in progress).

fn main() {
    eprintln!("render: not built yet");
    std::process::exit(2);
}
