fn main() {
    containerd_shim_berth_v2::run();
}
