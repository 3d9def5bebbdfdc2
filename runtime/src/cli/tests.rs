//! The command line as berth reads it: runc's shapes, and clap's before.

use super::args::Value;
use super::help::column;
use super::*;
use std::path::Path;

fn parse_args(args: &[&str]) -> Result<Cli, Stop> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    Cli::parse(&args)
}

/// `line` split at spaces (no test needs a space inside a word).
fn parse(line: &str) -> Result<Cli, Stop> {
    parse_args(&line.split_whitespace().collect::<Vec<_>>())
}

fn ok(line: &str) -> Cli {
    parse(line).unwrap_or_else(|e| panic!("{line}: {e:?}"))
}

fn usage(line: &str) -> String {
    match parse(line) {
        Err(Stop::Usage(msg)) => msg,
        other => panic!("{line}: {other:?}"),
    }
}

fn exec(line: &str) -> ExecArgs {
    match ok(line).command {
        Command::Exec(a) => a,
        other => panic!("{other:?}"),
    }
}

fn ps(line: &str) -> (PsFormat, String, Vec<String>) {
    match ok(line).command {
        Command::Ps {
            format,
            id,
            ps_args,
        } => (format, id, ps_args),
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults() {
    let cli = ok("state x");
    let g = &cli.global;
    assert_eq!(g.root, None);
    assert_eq!(g.log, None);
    assert_eq!(g.log_format, LogFormat::Text);
    assert!(!g.debug && !g.systemd_cgroup);
    assert_eq!(g.rootless, "auto");
    assert!(matches!(cli.command, Command::State { id } if id == "x"));
}

#[test]
fn global_flags_before_and_after_the_command() {
    for line in [
        "--root /r --log=/l -log-format json --debug --systemd-cgroup state x",
        "state --root /r x --log /l --log-format=json -debug --systemd-cgroup=true",
    ] {
        let g = ok(line).global;
        assert_eq!(g.root.as_deref(), Some(Path::new("/r")));
        assert_eq!(g.log.as_deref(), Some(Path::new("/l")));
        assert_eq!(g.log_format, LogFormat::Json);
        assert!(g.debug && g.systemd_cgroup);
    }
    // runc's one-dash spelling; the later one wins, as with clap.
    assert_eq!(
        ok("-root /x list -root=/y").global.root.as_deref(),
        Some(Path::new("/y"))
    );
    assert_eq!(
        usage("--log-format xml list"),
        "invalid value \"xml\" for --log-format: expected text or json"
    );
}

#[test]
fn rootless_bare_valued_and_before_the_command() {
    let cli = ok("--rootless spec -b /d");
    assert_eq!(cli.global.rootless, "true");
    assert!(matches!(cli.command, Command::Spec { bundle } if bundle == Path::new("/d")));
    assert_eq!(ok("--rootless false list").global.rootless, "false");
    assert_eq!(ok("--rootless=auto list").global.rootless, "auto");
    assert_eq!(ok("spec --rootless").global.rootless, "true");
    assert_eq!(ok("spec --rootless true").global.rootless, "true");
    // Checked (and refused) in dispatch, as before.
    assert_eq!(ok("--rootless=maybe list").global.rootless, "maybe");
}

#[test]
fn exec_takes_the_command_whole() {
    assert_eq!(exec("exec id sh -c x").command, ["sh", "-c", "x"]);
    assert_eq!(exec("exec id ls -la").command, ["ls", "-la"]);
    let a = exec("exec -e A=1 --env=B=2 -t id --env C -u 1:2 ls --tty -e D");
    assert_eq!(a.id, "id");
    assert_eq!(a.env, ["A=1", "B=2", "C"]);
    assert!(a.tty);
    assert_eq!(a.user.as_deref(), Some("1:2"));
    assert_eq!(a.command, ["ls", "--tty", "-e", "D"]);
    // After the ID, a dash word that is no flag of exec starts the command.
    assert_eq!(exec("exec id --frob x").command, ["--frob", "x"]);
    let a = exec("exec id -- --tty");
    assert!(!a.tty);
    assert_eq!(a.command, ["--tty"]);
    assert_eq!(exec("exec -- id -x").command, ["-x"]);
    assert_eq!(exec("exec id sh -- -x").command, ["sh", "--", "-x"]);
    let a = exec("exec -g 5 --additional-gids=6 -c CAP_KILL --cap CAP_CHOWN id");
    assert_eq!(a.additional_gids, [5, 6]);
    assert_eq!(a.cap, ["CAP_KILL", "CAP_CHOWN"]);
    assert!(a.command.is_empty());
    assert_eq!(usage("exec --frob id"), "unknown flag: --frob");
    assert_eq!(
        usage("exec --preserve-fds x id"),
        "invalid value \"x\" for --preserve-fds: invalid digit found in string"
    );
    assert_eq!(
        usage("exec -g wheel id"),
        "invalid value \"wheel\" for --additional-gids: invalid digit found in string"
    );
}

#[test]
fn ps_takes_its_arguments_whole() {
    assert_eq!(ps("ps id"), (PsFormat::Table, "id".into(), vec![]));
    assert_eq!(ps("ps id -ef").2, ["-ef"]);
    assert_eq!(ps("ps id -o pid,comm").2, ["-o", "pid,comm"]);
    assert_eq!(ps("ps id aux -f").2, ["aux", "-f"]);
    assert_eq!(ps("ps --format json id").0, PsFormat::Json);
    // As with clap: ps's own flags still count before the first word.
    assert_eq!(ps("ps id -f json"), (PsFormat::Json, "id".into(), vec![]));
    assert_eq!(
        usage("ps -f yaml id"),
        "invalid value \"yaml\" for --format: expected table or json"
    );
}

#[test]
fn update_takes_negative_numbers() {
    let line = "update --pids-limit -1 --cpu-quota -1 --cpu-rt-runtime=-5 --memory-swap -1 \
                --cpu-shares 512 -r - id";
    let Command::Update(a) = ok(line).command else {
        panic!()
    };
    assert_eq!(a.pids_limit, Some(-1));
    assert_eq!(a.cpu_quota, Some(-1));
    assert_eq!(a.cpu_rt_runtime, Some(-5));
    assert_eq!(a.memory_swap.as_deref(), Some("-1"));
    assert_eq!(a.cpu_share, Some(512));
    assert_eq!(a.resources.as_deref(), Some("-"));
    assert_eq!(a.id, "id");
    assert_eq!(
        usage("update --cpu-share -1 id"),
        "invalid value \"-1\" for --cpu-share: invalid digit found in string"
    );
    assert_eq!(
        usage("update --blkio-weight 70000 id"),
        "invalid value \"70000\" for --blkio-weight: number too large to fit in target type"
    );
}

#[test]
fn booleans_take_false_and_flags_follow_the_id() {
    let Command::Run {
        create,
        detach,
        keep,
    } = ok("run --detach=false --keep -bundle /b id").command
    else {
        panic!()
    };
    assert!(!detach && keep);
    assert_eq!(create.bundle, Path::new("/b"));
    assert_eq!(create.id, "id");
    let c = ok("kill id KILL --all").command;
    assert!(matches!(c, Command::Kill { all: true, id, signal } if id == "id" && signal == "KILL"));
    let c = ok("kill -a=false id").command;
    assert!(matches!(c, Command::Kill { all: false, signal, .. } if signal == "SIGTERM"));
    assert!(matches!(
        ok("delete id --force").command,
        Command::Delete { force: true, .. }
    ));
    assert!(matches!(
        ok("delete -f=0 id").command,
        Command::Delete { force: false, .. }
    ));
    assert_eq!(
        usage("delete --force=yes id"),
        "invalid value \"yes\" for --force: expected true or false"
    );
}

#[test]
fn unknown_flags_and_commands() {
    assert_eq!(usage("kill --frob x"), "unknown flag: --frob");
    assert_eq!(usage("-frob list"), "unknown flag: -frob");
    assert_eq!(usage("kill x -9"), "unknown flag: -9");
    assert_eq!(usage("frob"), "unknown command: frob");
    assert_eq!(usage("help frob"), "unknown command: frob");
    // Only before the command.
    assert_eq!(usage("list --version"), "unknown flag: --version");
    assert_eq!(usage("list --format"), "flag needs an argument: --format");
}

#[test]
fn positional_counts_in_runc_words() {
    for (line, msg) in [
        ("state", "\"state\" requires exactly 1 argument(s)"),
        ("state a b", "\"state\" requires exactly 1 argument(s)"),
        ("delete -f", "\"delete\" requires exactly 1 argument(s)"),
        ("kill", "\"kill\" requires a minimum of 1 argument(s)"),
        ("kill a b c", "\"kill\" requires a maximum of 2 argument(s)"),
        ("exec", "\"exec\" requires a minimum of 1 argument(s)"),
        ("ps -f json", "\"ps\" requires a minimum of 1 argument(s)"),
        ("list x", "\"list\" requires exactly 0 argument(s)"),
        ("features x", "\"features\" requires exactly 0 argument(s)"),
    ] {
        assert_eq!(usage(line), msg, "{line}");
    }
}

#[test]
fn help_and_version() {
    for line in ["--help", "-h", "--root /x -help", "help", "h"] {
        assert!(matches!(parse(line), Err(Stop::Help(None))), "{line}");
    }
    for line in ["exec --help", "exec id -h", "help exec"] {
        let help = parse(line);
        assert!(
            matches!(help, Err(Stop::Help(Some(c))) if c.name == "exec"),
            "{line}"
        );
    }
    for line in ["--version", "-v", "-V", "--debug --version"] {
        assert!(matches!(parse(line), Err(Stop::Version)), "{line}");
    }
    assert!(matches!(parse(""), Err(Stop::NoCommand)));
    assert!(matches!(parse("--debug"), Err(Stop::NoCommand)));
    let text = help(None);
    for c in COMMANDS {
        assert!(text.contains(&format!("  {:w$}{}", c.name, c.about, w = column())));
        let text = help(Some(c));
        for f in c.flags.iter().flat_map(|t| t.iter()) {
            let long = format!("--{}", f.long);
            assert!(text.contains(&long), "{}: {long}", c.name);
        }
    }
}

/// The longest name (checkpoint) once ran into its text.
#[test]
fn every_command_name_in_the_help_is_followed_by_two_spaces() {
    let text = help(None);
    let commands = text.split("Commands:\n").nth(1).unwrap();
    let commands = commands.split("\n\n").next().unwrap();
    for name in COMMANDS.iter().map(|c| c.name).chain(["help"]) {
        let column = format!("  {name}  ");
        assert!(
            commands.lines().any(|l| l.starts_with(&column)),
            "{name}:\n{commands}"
        );
    }
}

/// Every command parses, every flag of every table lands in a field
/// (a miss is an unreachable! panic), and no two flags share a name.
#[test]
fn every_command_and_flag_is_wired() {
    for c in COMMANDS {
        let ids = vec!["x"; c.min];
        parse_args(&[&[c.name][..], &ids].concat()).unwrap();
        let mut names: Vec<String> = Vec::new();
        let tables = c.flags.iter().chain([&GLOBAL, &HELP]);
        for f in tables.flat_map(|t| t.iter()) {
            names.push(f.long.to_string());
            names.extend(f.aliases.iter().map(|a| a.to_string()));
            names.extend(f.short.map(String::from));
            if f.long == "help" {
                continue;
            }
            let value = match f.value {
                Value::None => "true",
                _ if f.long.ends_with("format") => "json",
                _ => "1",
            };
            let given = format!("--{}={value}", f.long);
            let args = [&[c.name, &given][..], &ids].concat();
            parse_args(&args).unwrap_or_else(|e| panic!("{args:?}: {e:?}"));
        }
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{}: a name is used twice", c.name);
    }
}

/// The shapes that containerd's shim, podman (conmon), the conformance
/// suite and hack/ pass, with and without the shim's global flags.
#[test]
fn callers_shapes_parse() {
    for line in [
        "create --bundle /b --pid-file /p --console-socket /s --no-pivot --no-new-keyring id",
        "create --bundle /b --preserve-fds 2 --pidfd-socket /s id",
        "exec --process /p --pid-file /f --detach --console-socket /s id",
        "exec --detach --tty --console-socket /s id sh -c tty",
        "exec --user 1000:1001 --additional-gids 5 --cwd /tmp --cap CAP_SYS_ADMIN --no-new-privs \
         id /bin/probe",
        "exec --ignore-paused id sh -c true",
        "exec --apparmor p --process-label l --cgroup cpu:sub id true",
        "exec -t id sh -c tty",
        "kill --all id 9",
        "kill id KILL",
        "delete --force id",
        "update --resources - id",
        "update --memory 128m --pids-limit 20 --cpu-share 256 id",
        "ps --format json id",
        "events --stats id",
        "events --interval 1s id",
        "state id",
        "start id",
        "pause id",
        "resume id",
        "run -d --bundle /b id",
        "run --bundle /b id",
        "list -q",
        "list --format json",
        "spec --bundle /b",
        "features",
    ] {
        ok(line);
        ok(&format!("--root /r --log /l --log-format json {line}"));
    }
}

#[test]
fn checkpoint_and_restore_take_runcs_flags() {
    let cli = ok(
        "--criu /opt/criu checkpoint --image-path img --work-path w --parent-path ../pre \
                  --leave-running --tcp-established --ext-unix-sk --shell-job --file-locks \
                  --manage-cgroups-mode soft --empty-ns network --pre-dump c1",
    );
    assert_eq!(cli.global.criu.as_deref(), Some(Path::new("/opt/criu")));
    let Command::Checkpoint(a) = cli.command else {
        panic!("not a checkpoint")
    };
    assert_eq!(a.id, "c1");
    assert!(a.leave_running && a.pre_dump);
    assert_eq!(a.parent_path.as_deref(), Some(Path::new("../pre")));
    let f = a.criu.flags().unwrap();
    assert_eq!(f.image_path.as_deref(), Some(Path::new("img")));
    assert_eq!(f.work_path.as_deref(), Some(Path::new("w")));
    assert!(f.tcp_established && f.ext_unix_sk && f.shell_job && f.file_locks);
    assert_eq!(
        f.manage_cgroups_mode,
        Some(berth::container::criu::rpc::CgMode::Soft)
    );

    let Command::Restore(r) = ok("restore -d -b /b --pid-file p --console-socket s \
                                  --no-subreaper --no-pivot --image-path img c2")
    .command
    else {
        panic!("not a restore")
    };
    assert_eq!((r.id.as_str(), r.bundle.as_path()), ("c2", Path::new("/b")));
    assert!(r.detach);
    assert_eq!(r.pid_file.as_deref(), Some(Path::new("p")));
    assert_eq!(r.console_socket.as_deref(), Some(Path::new("s")));

    // Refused by name rather than ignored.
    let Command::Checkpoint(a) = ok("checkpoint --lazy-pages c1").command else {
        panic!("not a checkpoint")
    };
    assert!(a.criu.flags().is_err());
    let Command::Checkpoint(a) = ok("checkpoint --manage-cgroups-mode ignore c1").command else {
        panic!("not a checkpoint")
    };
    assert!(a.criu.flags().is_err());
}
