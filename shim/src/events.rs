//! Events to containerd, published by one thread in the order the task
//! logic produced them.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime};

use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::topics;
use containerd_shim::protos::types::mount::Mount;

use crate::rpc;
use crate::task::Event;

/// containerd's ttrpc service for events from shims.
const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";

pub struct Outbox {
    tx: Mutex<Sender<Event>>,
    /// Events sent and not yet published; `flush` waits on `published`.
    pending: Mutex<usize>,
    published: Condvar,
}

impl Outbox {
    /// Starts the publishing thread, which connects to containerd's ttrpc
    /// address and calls it itself (rpc::Client: the ttrpc crate's client
    /// would add two threads, one of them polling every 10 ms).
    pub fn start(address: String, namespace: String) -> &'static Outbox {
        let (tx, rx) = channel::<Event>();
        let outbox: &'static Outbox = Box::leak(Box::new(Outbox {
            tx: Mutex::new(tx),
            pending: Mutex::new(0),
            published: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("events".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut client = None;
                for event in rx {
                    let (topic, any) = to_proto(event);
                    let envelope = Envelope {
                        timestamp: timestamp(SystemTime::now()),
                        namespace: namespace.clone(),
                        topic: topic.into(),
                        event: MessageField::some(any),
                        ..Default::default()
                    };
                    publish(&mut client, &address, envelope);
                    outbox.add_pending(-1);
                }
            })
            .expect("start the events thread");
        outbox
    }

    pub fn send(&self, event: Event) {
        self.add_pending(1);
        if self.tx.lock().unwrap().send(event).is_err() {
            self.add_pending(-1);
        }
    }

    fn add_pending(&self, n: isize) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *p = p.saturating_add_signed(n);
        if *p == 0 {
            self.published.notify_all();
        }
    }

    /// Waits until every event sent so far is published, at most `limit`.
    pub fn flush(&self, limit: Duration) {
        let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.published.wait_timeout_while(p, limit, |p| *p > 0);
    }
}

/// Publishes one event, reconnecting while containerd restarts: a broken
/// connection is not repaired by ttrpc. Gives up after about five seconds;
/// a restarted containerd asks for the state of every task anyway.
///
/// The envelope is built by hand rather than by the crate's publisher,
/// which names each event through protobuf reflection: building the
/// descriptors costs each shim about half a megabyte of heap.
fn publish(client: &mut Option<rpc::Client>, address: &str, envelope: Envelope) {
    let topic = envelope.topic.clone();
    let req = ForwardRequest {
        envelope: MessageField::some(envelope),
        ..Default::default()
    };
    let Ok(payload) = req.write_to_bytes() else {
        log::error!("event {topic} lost: it does not encode");
        return;
    };
    let mut delay = Duration::from_millis(50);
    for attempt in 0..8 {
        if client.is_none() {
            *client = rpc::Client::connect(address).ok();
        }
        if let Some(c) = client.as_mut() {
            match c.call(EVENTS_SERVICE, "Forward", payload.clone()) {
                Ok(_) => return,
                Err(e) => {
                    log::warn!("publish {topic} (attempt {}): {e}", attempt + 1);
                    *client = None;
                }
            }
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(1));
    }
    log::error!("event {topic} lost: containerd unreachable");
}

/// An event as containerd's typeurl names it: the message's full name.
fn any(name: &str, msg: &impl Message) -> Any {
    let mut any = Any::new();
    any.type_url = name.into();
    any.value = msg.write_to_bytes().unwrap_or_default();
    any
}

pub fn timestamp(t: SystemTime) -> MessageField<Timestamp> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    MessageField::some(ts)
}

fn to_proto(event: Event) -> (&'static str, Any) {
    match event {
        Event::Create {
            id,
            bundle,
            rootfs,
            stdio,
            pid,
        } => (
            topics::TASK_CREATE_EVENT_TOPIC,
            any(
                "containerd.events.TaskCreate",
                &TaskCreate {
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
                },
            ),
        ),
        Event::Start { id, pid } => (
            topics::TASK_START_EVENT_TOPIC,
            any(
                "containerd.events.TaskStart",
                &TaskStart {
                    container_id: id,
                    pid,
                    ..Default::default()
                },
            ),
        ),
        Event::ExecAdded { id, exec_id } => (
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            any(
                "containerd.events.TaskExecAdded",
                &TaskExecAdded {
                    container_id: id,
                    exec_id,
                    ..Default::default()
                },
            ),
        ),
        Event::ExecStarted { id, exec_id, pid } => (
            topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            any(
                "containerd.events.TaskExecStarted",
                &TaskExecStarted {
                    container_id: id,
                    exec_id,
                    pid,
                    ..Default::default()
                },
            ),
        ),
        Event::Exit {
            id,
            exec_id,
            pid,
            exit,
        } => (
            topics::TASK_EXIT_EVENT_TOPIC,
            any(
                "containerd.events.TaskExit",
                &TaskExit {
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
                },
            ),
        ),
        Event::Delete { id, pid, exit } => (
            topics::TASK_DELETE_EVENT_TOPIC,
            any(
                "containerd.events.TaskDelete",
                &TaskDelete {
                    container_id: id.clone(),
                    id,
                    pid,
                    exit_status: exit.status,
                    exited_at: timestamp(exit.at),
                    ..Default::default()
                },
            ),
        ),
        Event::Oom { id } => (
            topics::TASK_OOM_EVENT_TOPIC,
            any(
                "containerd.events.TaskOOM",
                &TaskOOM {
                    container_id: id,
                    ..Default::default()
                },
            ),
        ),
        Event::Paused { id } => (
            topics::TASK_PAUSED_EVENT_TOPIC,
            any(
                "containerd.events.TaskPaused",
                &TaskPaused {
                    container_id: id,
                    ..Default::default()
                },
            ),
        ),
        Event::Resumed { id } => (
            topics::TASK_RESUMED_EVENT_TOPIC,
            any(
                "containerd.events.TaskResumed",
                &TaskResumed {
                    container_id: id,
                    ..Default::default()
                },
            ),
        ),
    }
}
