fn main() {
    diffscope_fuzz::fuzz_target("csv_gz");
}
