fn main() -> std::process::ExitCode {
    kilter::run(std::env::args_os())
}
