//! The CLI binary end to end: arguments in, exit code and output out.

use std::process::Command;

fn tripletlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tripletlab"))
}

#[test]
fn doctor_on_flex_prints_the_known_product() {
    let out = tripletlab().args(["doctor", "--backend", "flex"]).output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("[58.0, 64.0, 139.0, 154.0]"), "{stdout}");
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
}

#[test]
fn an_unknown_backend_is_a_usage_error() {
    let out = tripletlab().args(["doctor", "--backend", "tpu"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid value 'tpu'"), "{stderr}");
    assert!(stderr.contains("flex") && stderr.contains("wgpu"), "{stderr}");
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe: apt-get install mesa-vulkan-drivers); cargo xtask test runs it"]
fn doctor_on_native_wgpu_prints_the_known_product() {
    let out = tripletlab().args(["doctor", "--backend", "wgpu"]).output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("wgpu (native GPU API)"), "{stdout}");
    assert!(stdout.contains("[58.0, 64.0, 139.0, 154.0]"), "{stdout}");
}
