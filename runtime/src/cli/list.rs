use std::io::Write;

use berth::container::store::Store;
use berth::oci::state::OciState;
use berth::Result;

use super::args::Flag;
use super::line::{Line, Stop};
use super::Command;

#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag::value("format", Some('f'), "FORMAT", "table (default) or json."),
    Flag::switch("quiet", Some('q'), "Print only the IDs."),
];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ListFormat {
    Table,
    Json,
}

pub fn parse(line: Line) -> Result<Command, Stop> {
    let (mut format, mut quiet) = (ListFormat::Table, false);
    line.words(|v| {
        match v.flag.long {
            "format" => {
                format = v.one_of(&[("table", ListFormat::Table), ("json", ListFormat::Json)])?
            }
            "quiet" => quiet = v.on()?,
            other => unreachable!("list flag --{other} has no field"),
        }
        Ok(())
    })?;
    Ok(Command::List { format, quiet })
}

pub fn run(store: &Store, format: ListFormat, quiet: bool) -> Result<()> {
    let mut rows = Vec::new();
    for id in store.list()? {
        // A container deleted while we list is simply not listed.
        let Ok(dir) = store.read(&id) else { continue };
        let (Some(state), status) = berth::container::lifecycle::loaded(&dir)? else {
            continue;
        };
        rows.push((state, status));
    }
    let mut out = std::io::stdout().lock();
    if quiet {
        for (s, _) in &rows {
            let _ = writeln!(out, "{}", s.id);
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => {
            let list: Vec<OciState> = rows.iter().map(|(s, st)| s.oci(*st, "root")).collect();
            let _ = writeln!(out, "{}", serde_json::to_string(&list).expect("serialises"));
        }
        ListFormat::Table => {
            let mut lines =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
            for (s, st) in &rows {
                let pid = if *st == berth::oci::state::Status::Stopped {
                    0
                } else {
                    s.pid
                };
                lines.push([
                    s.id.clone(),
                    pid.to_string(),
                    st.as_str().to_string(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    "root".to_string(),
                ]);
            }
            let widths: Vec<usize> = (0..6)
                .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
                .collect();
            for l in &lines {
                let mut line = String::new();
                for (i, cell) in l.iter().enumerate() {
                    if i == 5 {
                        line.push_str(cell);
                    } else {
                        line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
                    }
                }
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
    }
    Ok(())
}
