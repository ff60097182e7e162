//! The page's side of the engine worker: starting it, and learning when it ends.
//!
//! A worker can end without a word: the browser may kill it to reclaim memory, it may be
//! terminated, its WebAssembly may hit an internal error, or its GPU device may be lost (which its
//! burn backend cannot recover from). `web/worker-life.js` (the first script of both workers) holds
//! a Web Lock for the worker's whole life and, where it knows a reason, posts it on a
//! BroadcastChannel before closing. The page
//! waits for that lock: once it is granted, the worker is gone, and [`Engine`] reports it once with
//! the best reason it has. The page then starts a fresh worker; the stored checkpoint survives in
//! IndexedDB.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_worker::{Spawnable, WorkerBridge};
use js_sys::{Function, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use tripletlab_protocol::{Command, EngineLink, Event};

/// The usual worker's first script (see `web/worker-boot.js`), at the root of the site like the
/// page: one thread, WebGPU and the CPU.
const WORKER_BOOT: &str = "./worker-boot.js";
/// The threaded CPU worker's first script (see `web/worker-threads-boot.js`), a module.
const THREADS_BOOT: &str = "./worker-threads-boot.js";
/// The most threads the threaded worker starts, whatever the machine has (each is a Web Worker
/// with its own stack in the shared memory).
const MOST_THREADS: usize = 16;

/// Which engine worker runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// One thread, WebGPU and the CPU: every page can run it.
    Usual,
    /// The CPU only, over this many threads sharing one memory: a cross-origin isolated page only.
    Threaded(usize),
}

/// Whether the browser offers WebGPU at all (`navigator.gpu`); whether it has an adapter only a
/// worker can tell (it asks for one the way burn will).
pub fn browser_offers_webgpu() -> bool {
    property(&js_sys::global(), "navigator").and_then(|navigator| property(&navigator, "gpu")).is_some()
}

/// The threaded worker this page could run, if any: the page must be cross-origin isolated
/// (served with COOP and COEP, so memory can be shared between threads), and the machine must
/// have more than one core. `Err` says, in plain words, why it runs one thread.
pub fn threads_available() -> Result<usize, &'static str> {
    let global = js_sys::global();
    let isolated = property(&global, "crossOriginIsolated").and_then(|value| value.as_bool()).unwrap_or(false);
    if !isolated {
        return Err("this page is not cross-origin isolated (its host does not send the COOP and COEP headers), \
                    so its threads cannot share memory");
    }
    let cores = property(&global, "navigator")
        .and_then(|navigator| property(&navigator, "hardwareConcurrency"))
        .and_then(|cores| cores.as_f64())
        .unwrap_or(1.0);
    let threads = (cores.max(1.0) as usize).min(MOST_THREADS);
    if threads < 2 { Err("this browser reports one core") } else { Ok(threads) }
}

/// How long to wait, after the worker's lock is released, for its reason to arrive.
const REASON_GRACE_MS: i32 = 300;

/// Said when a worker ended without a reason.
const UNEXPLAINED: &str = "The engine worker stopped without a word (it was terminated, or the browser ended it, \
                           for example to reclaim memory).";

/// The BroadcastChannel a worker speaks on, and the page's listener.
type ReasonChannel = (JsValue, Closure<dyn FnMut(JsValue)>);

/// One running engine worker.
pub struct Engine {
    bridge: WorkerBridge<EngineLink>,
    watch: Rc<Watch>,
}

/// What the page knows about how a worker ended.
struct Watch {
    name: String,
    /// The reason the worker gave, if it gave one.
    reason: RefCell<Option<String>>,
    /// The page retired this worker itself, or its end was already reported.
    done: std::cell::Cell<bool>,
    on_end: Box<dyn Fn(String)>,
    /// Kept alive for as long as the worker may speak.
    channel: RefCell<Option<ReasonChannel>>,
    /// Whether the page is waiting on the worker's lock yet.
    waiting: std::cell::Cell<bool>,
}

impl Watch {
    fn end(&self) {
        if self.done.replace(true) {
            return;
        }
        let reason = self.reason.borrow_mut().take().unwrap_or_else(|| UNEXPLAINED.to_string());
        self.close_channel();
        (self.on_end)(reason);
    }

    /// Close the channel; its listener stays alive with the watch (it may be running right now).
    fn close_channel(&self) {
        if let Some((channel, _listener)) = self.channel.borrow().as_ref()
            && let Some(close) = method(channel, "close")
        {
            let _ = close.call0(channel);
        }
    }
}

impl Engine {
    /// Start a worker of `kind`. `on_event` hears its events; `on_end` hears, once, why it ended,
    /// unless the page retires it first.
    pub fn start(kind: EngineKind, on_event: impl Fn(Event) + 'static, on_end: impl Fn(String) + 'static) -> Self {
        let name =
            format!("tripletlab-engine-{}-{}", js_sys::Date::now() as u64, (js_sys::Math::random() * 1e9) as u64);
        let watch = Rc::new(Watch {
            name: name.clone(),
            reason: RefCell::new(None),
            done: std::cell::Cell::new(false),
            on_end: Box::new(on_end),
            channel: RefCell::new(None),
            waiting: std::cell::Cell::new(false),
        });
        listen_for_reason(&watch);
        let first_word = Rc::clone(&watch);
        let bridge = EngineLink::spawner()
            .callback(move |event| {
                // The worker took its lock before its WebAssembly started, so by its first event
                // the page can wait on the lock without taking it first.
                if !first_word.waiting.replace(true) {
                    wait_for_end(&first_word);
                }
                on_event(event);
            })
            .with_loader(true)
            .as_module(kind != EngineKind::Usual)
            .spawn(&match kind {
                EngineKind::Usual => format!("{WORKER_BOOT}?name={name}"),
                EngineKind::Threaded(threads) => format!("{THREADS_BOOT}?name={name}&threads={threads}"),
            });
        if kind != EngineKind::Usual {
            watch_the_start(&watch);
        }
        Self { bridge, watch }
    }

    pub fn send(&self, command: Command) {
        self.bridge.send(command);
    }

    /// Stop listening: the page is replacing this worker on purpose.
    pub fn retire(&self) {
        self.watch.done.set(true);
        self.watch.close_channel();
    }
}

/// Keep the reason the worker posts on its BroadcastChannel; a reason means the end is here.
fn listen_for_reason(watch: &Rc<Watch>) {
    let Some(constructor) = property(&js_sys::global(), "BroadcastChannel").and_then(|c| c.dyn_into::<Function>().ok())
    else {
        return;
    };
    let Ok(channel) = Reflect::construct(&constructor, &js_sys::Array::of1(&JsValue::from_str(&watch.name))) else {
        return;
    };
    let heard = Rc::downgrade(watch);
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
        let Some(watch) = heard.upgrade() else { return };
        let reason = property(&message, "data").and_then(|data| property(&data, "reason")).and_then(|r| r.as_string());
        if let Some(reason) = reason {
            *watch.reason.borrow_mut() = Some(reason);
            watch.end();
        }
    });
    let _ = Reflect::set(&channel, &JsValue::from_str("onmessage"), listener.as_ref());
    *watch.channel.borrow_mut() = Some((channel, listener));
}

/// How long the threaded worker may take to say its first word (its module is 3 MB compressed;
/// its pool starts in a second here).
const THREADED_START_MS: i32 = 120_000;

/// A worker whose first script never ran (it could not be fetched) takes no lock and says
/// nothing: the threaded one is given up after [`THREADED_START_MS`] without a word, so that the
/// page goes on with the usual worker instead of waiting for ever.
fn watch_the_start(watch: &Rc<Watch>) {
    let silent = Rc::downgrade(watch);
    let check = Closure::once_into_js(move || {
        if let Some(watch) = silent.upgrade()
            && !watch.waiting.get()
        {
            watch.reason.borrow_mut().get_or_insert_with(|| {
                format!("The threaded CPU engine did not start within {} s.", THREADED_START_MS / 1000)
            });
            watch.end();
        }
    });
    if let Some(set_timeout) = method(&js_sys::global(), "setTimeout") {
        let _ = set_timeout.call2(&JsValue::NULL, &check, &JsValue::from(THREADED_START_MS));
    }
}

/// Ask for the worker's lock: it is granted when the worker has ended.
fn wait_for_end(watch: &Rc<Watch>) {
    let locks = property(&js_sys::global(), "navigator").and_then(|navigator| property(&navigator, "locks"));
    let Some(request) = locks.as_ref().and_then(|locks| method(locks, "request")) else { return };
    let ended = Rc::downgrade(watch);
    let granted = Closure::once_into_js(move || {
        // The reason, when there is one, may arrive just after the lock: give it a moment.
        let later = Closure::once_into_js(move || {
            if let Some(watch) = ended.upgrade() {
                watch.end();
            }
        });
        if let Some(set_timeout) = method(&js_sys::global(), "setTimeout") {
            let _ = set_timeout.call2(&JsValue::NULL, &later, &JsValue::from(REASON_GRACE_MS));
        }
    });
    if let Some(locks) = locks {
        let _ = request.call2(&locks, &JsValue::from_str(&watch.name), &granted);
    }
}

fn property(value: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(value, &JsValue::from_str(name)).ok().filter(|value| !value.is_undefined() && !value.is_null())
}

fn method(value: &JsValue, name: &str) -> Option<Function> {
    property(value, name).and_then(|value| value.dyn_into::<Function>().ok())
}
