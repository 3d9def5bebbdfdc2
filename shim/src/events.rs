//! Events to containerd, published by one thread in the order the task
//! logic produced them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{MessageDyn, MessageField};
use containerd_shim::protos::topics;
use containerd_shim::protos::types::mount::Mount;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;

use crate::task::Event;

pub struct Outbox {
    tx: Mutex<Sender<Event>>,
    pending: AtomicUsize,
}

impl Outbox {
    /// Starts the publishing thread.
    pub fn start(publisher: RemotePublisher, namespace: String) -> &'static Outbox {
        let (tx, rx) = channel::<Event>();
        let outbox: &'static Outbox = Box::leak(Box::new(Outbox {
            tx: Mutex::new(tx),
            pending: AtomicUsize::new(0),
        }));
        std::thread::Builder::new()
            .name("events".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut publisher = Some(publisher);
                for event in rx {
                    let (topic, msg) = to_proto(event);
                    publish(&mut publisher, topic, &namespace, msg);
                    outbox.pending.fetch_sub(1, Ordering::SeqCst);
                }
            })
            .expect("start the events thread");
        outbox
    }

    pub fn send(&self, event: Event) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.lock().unwrap().send(event).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits until every event sent so far is published, at most `limit`.
    pub fn flush(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.pending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Publishes one event, reconnecting while containerd restarts: a broken
/// connection is not repaired by ttrpc. Gives up after about five seconds;
/// a restarted containerd asks for the state of every task anyway.
fn publish(
    publisher: &mut Option<RemotePublisher>,
    topic: &str,
    namespace: &str,
    msg: Box<dyn MessageDyn>,
) {
    let mut delay = Duration::from_millis(50);
    for attempt in 0..8 {
        if publisher.is_none() {
            *publisher = std::env::var("TTRPC_ADDRESS")
                .ok()
                .and_then(|a| RemotePublisher::new(a).ok());
        }
        if let Some(p) = publisher.as_ref() {
            match p.publish(Context::default(), topic, namespace, msg.clone_box()) {
                Ok(()) => return,
                Err(e) => {
                    log::warn!("publish {topic} (attempt {}): {e}", attempt + 1);
                    *publisher = None;
                }
            }
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(1));
    }
    log::error!("event {topic} lost: containerd unreachable");
}

pub fn timestamp(t: SystemTime) -> MessageField<Timestamp> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    MessageField::some(ts)
}

fn to_proto(event: Event) -> (&'static str, Box<dyn MessageDyn>) {
    match event {
        Event::Create {
            id,
            bundle,
            rootfs,
            stdio,
            pid,
        } => (
            topics::TASK_CREATE_EVENT_TOPIC,
            Box::new(TaskCreate {
                container_id: id,
                bundle: bundle.to_string_lossy().into_owned(),
                rootfs: rootfs
                    .into_iter()
                    .map(|m| Mount {
                        type_: m.kind,
                        source: m.source,
                        options: m.options,
                        ..Default::default()
                    })
                    .collect(),
                io: MessageField::some(TaskIO {
                    stdin: stdio.0,
                    stdout: stdio.1,
                    stderr: stdio.2,
                    terminal: stdio.3,
                    ..Default::default()
                }),
                pid,
                ..Default::default()
            }),
        ),
        Event::Start { id, pid } => (
            topics::TASK_START_EVENT_TOPIC,
            Box::new(TaskStart {
                container_id: id,
                pid,
                ..Default::default()
            }),
        ),
        Event::ExecAdded { id, exec_id } => (
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            Box::new(TaskExecAdded {
                container_id: id,
                exec_id,
                ..Default::default()
            }),
        ),
        Event::ExecStarted { id, exec_id, pid } => (
            topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            Box::new(TaskExecStarted {
                container_id: id,
                exec_id,
                pid,
                ..Default::default()
            }),
        ),
        Event::Exit {
            id,
            exec_id,
            pid,
            exit,
        } => (
            topics::TASK_EXIT_EVENT_TOPIC,
            Box::new(TaskExit {
                // containerd names the init process by the container id.
                id: if exec_id.is_empty() {
                    id.clone()
                } else {
                    exec_id
                },
                container_id: id,
                pid,
                exit_status: exit.status,
                exited_at: timestamp(exit.at),
                ..Default::default()
            }),
        ),
        Event::Delete { id, pid, exit } => (
            topics::TASK_DELETE_EVENT_TOPIC,
            Box::new(TaskDelete {
                container_id: id.clone(),
                id,
                pid,
                exit_status: exit.status,
                exited_at: timestamp(exit.at),
                ..Default::default()
            }),
        ),
        Event::Oom { id } => (
            topics::TASK_OOM_EVENT_TOPIC,
            Box::new(TaskOOM {
                container_id: id,
                ..Default::default()
            }),
        ),
        Event::Paused { id } => (
            topics::TASK_PAUSED_EVENT_TOPIC,
            Box::new(TaskPaused {
                container_id: id,
                ..Default::default()
            }),
        ),
        Event::Resumed { id } => (
            topics::TASK_RESUMED_EVENT_TOPIC,
            Box::new(TaskResumed {
                container_id: id,
                ..Default::default()
            }),
        ),
    }
}
