use std::time::Instant;
use restricted_runner::{Command, Runner, Stdio};
fn main() {
    let w = tempfile::tempdir().unwrap();
    let ws = w.path().to_str().unwrap();
    let args: Vec<String> = std::env::args().collect();
    let ports = args.get(1).map(|s| s == "ports").unwrap_or(false);
    let mut o = serde_json::json!({"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"], "allow_read_folders": ["/etc"], "allow_write_folders": [ws]});
    if ports { o["allow_connect_tcp"] = serde_json::json!([443]); }
    let r = Runner::new("landrun", Some(&o.to_string())).unwrap();
    let cmd = Command::new("/bin/true").stdio(Stdio::Null, Stdio::Null, Stdio::Null);
    for _ in 0..10 { r.spawn(&cmd).unwrap().wait().unwrap(); }
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut acc = vec![0f64; 16];
    let (mut tpre, mut tw) = (0f64, 0f64);
    for _ in 0..n {
        let t = Instant::now();
        let p = r.spawn(&cmd).unwrap();
        let st = restricted_runner::backend::landrun::launch::stamps();
        let t1 = Instant::now();
        p.wait().unwrap();
        tw += t1.elapsed().as_secs_f64();
        let _ = t;
        for i in 1..16 { if st[i] > 0 && st[0] > 0 { acc[i] += (st[i] as f64 - st[0] as f64) / 1e3; } }
        tpre += (t1 - t).as_secs_f64() * 1e6;
    }
    let names = ["start","before clone","clone returned","report read","A start","A handlers reset","A after maps/pgid/lo","A after view/cwd","A after clone B","B start","B before limits","B before seccomp","B before exec","A before init exec","",""];
    for i in 1..14 { println!("{:>28}: {:8.0} us", names[i], acc[i] / n as f64); }
    println!("spawn total {:.0} us, wait {:.0} us", tpre / n as f64, tw / n as f64 * 1e6);
}
