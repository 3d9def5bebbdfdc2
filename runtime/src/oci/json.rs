//! Names places in JSON text that serde_json accepted (at least up to the
//! place asked about): a path such as `process.args[0]`. The walk keeps its
//! own stack, so deep nesting costs memory, never the call stack.

use std::ops::ControlFlow;

enum Frame {
    /// The member being read; None between members.
    Object(Option<String>),
    /// The element being read, if one is.
    Array { index: usize, inside: bool },
}

enum Event {
    /// A scalar or string value over these bytes.
    Value(usize, usize),
    /// An object key over these bytes (the frame holds it already).
    Key(usize, usize),
    /// `{` or `[` here; the stack is still the parent's.
    Open(usize),
    /// `}`, `]`, `,`, `:` or white space here.
    Other(usize),
}

/// The byte serde_json's position names: lines count from 1, columns
/// from 1 at a line's first byte (0 when the input ended there).
pub fn offset(bytes: &[u8], line: usize, column: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    let mut start = 0;
    for _ in 1..line {
        start += bytes.get(start..)?.iter().position(|&b| b == b'\n')? + 1;
    }
    Some((start + column).saturating_sub(1).min(bytes.len()))
}

/// The path of the innermost value at byte `offset`: the value itself
/// when the offset falls inside it, the object or array when it falls
/// between members (where serde_json reports a missing field).
pub fn path_at(bytes: &[u8], offset: usize) -> String {
    let found = walk(bytes, |stack, e| {
        let here = match e {
            Event::Value(_, end) | Event::Key(_, end) => offset < end,
            Event::Open(at) | Event::Other(at) => at >= offset,
        };
        if here {
            ControlFlow::Break(render(stack))
        } else {
            ControlFlow::Continue(())
        }
    });
    found.unwrap_or_default()
}

/// The path of the first string (key or value) that holds `\u0000`,
/// outside annotations: those are only stored and handed to hooks as
/// JSON, which carries any string.
pub fn string_with_nul(bytes: &[u8]) -> Option<String> {
    // Raw control characters are not valid JSON: a NUL can only be
    // written as an escape. Most configs have no backslash at all, which
    // one memchr pass tells (`contains` on bytes is one); the window scan
    // cost create 37k instructions, a twentieth of its parent's CPU
    // before clone.
    if !bytes.contains(&b'\\')
        || !bytes.windows(6).any(|w| w == b"\\u0000")
        || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err()
    {
        return None;
    }
    walk(bytes, |stack, e| {
        let (Event::Value(start, end) | Event::Key(start, end)) = e else {
            return ControlFlow::Continue(());
        };
        let annotation =
            stack.len() >= 2 && matches!(&stack[0], Frame::Object(Some(k)) if k == "annotations");
        if !annotation && bytes[start] == b'"' && has_nul(&bytes[start..end]) {
            ControlFlow::Break(render(stack))
        } else {
            ControlFlow::Continue(())
        }
    })
}

/// A quoted string's escapes are read in pairs, so `\\u0000` (a
/// backslash, then text) is no NUL.
fn has_nul(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' {
            if s[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

fn walk<R>(bytes: &[u8], mut visit: impl FnMut(&[Frame], Event) -> ControlFlow<R>) -> Option<R> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    macro_rules! visit {
        ($e:expr) => {
            if let ControlFlow::Break(r) = visit(&stack, $e) {
                return Some(r);
            }
        };
    }
    while i < bytes.len() {
        match bytes[i] {
            b @ (b'{' | b'[') => {
                begin(&mut stack);
                visit!(Event::Open(i));
                stack.push(if b == b'{' {
                    Frame::Object(None)
                } else {
                    Frame::Array {
                        index: 0,
                        inside: false,
                    }
                });
                i += 1;
            }
            b'}' | b']' => {
                visit!(Event::Other(i));
                stack.pop();
                finish(&mut stack);
                i += 1;
            }
            b',' => {
                visit!(Event::Other(i));
                if let Some(Frame::Array { index, .. }) = stack.last_mut() {
                    *index += 1;
                }
                i += 1;
            }
            b'"' => {
                let end = string_end(bytes, i);
                if let Some(Frame::Object(key @ None)) = stack.last_mut() {
                    *key = Some(decode(&bytes[i..end]));
                    visit!(Event::Key(i, end));
                } else {
                    begin(&mut stack);
                    visit!(Event::Value(i, end));
                    finish(&mut stack);
                }
                i = end;
            }
            b':' | b' ' | b'\t' | b'\n' | b'\r' => {
                visit!(Event::Other(i));
                i += 1;
            }
            _ => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| b",:]} \t\n\r".contains(b))
                    .map_or(bytes.len(), |n| i + n);
                begin(&mut stack);
                visit!(Event::Value(i, end));
                finish(&mut stack);
                i = end;
            }
        }
    }
    None
}

fn begin(stack: &mut [Frame]) {
    if let Some(Frame::Array { inside, .. }) = stack.last_mut() {
        *inside = true;
    }
}

fn finish(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Object(key)) => *key = None,
        Some(Frame::Array { inside, .. }) => *inside = false,
        None => {}
    }
}

/// The index just past the closing quote of the string opened at `i`.
fn string_end(bytes: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

fn decode(quoted: &[u8]) -> String {
    serde_json::from_slice(quoted).unwrap_or_else(|_| String::from_utf8_lossy(quoted).into())
}

/// Long keys (a key may be megabytes) and deep paths are cut, so that
/// the message stays a line.
fn render(stack: &[Frame]) -> String {
    const KEY_MAX: usize = 40;
    const PATH_MAX: usize = 200;
    let mut out = String::new();
    for f in stack {
        match f {
            Frame::Object(Some(k)) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let shown: String = k.chars().take(KEY_MAX).collect();
                out.extend(shown.escape_debug());
                if shown.len() < k.len() {
                    out.push('…');
                }
            }
            Frame::Array {
                index,
                inside: true,
            } => out.push_str(&format!("[{index}]")),
            _ => {}
        }
        if out.len() > PATH_MAX {
            out.push('…');
            break;
        }
    }
    out
}
