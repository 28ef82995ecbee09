fn main() {
    diffscope_fuzz::fuzz_target("png");
}
