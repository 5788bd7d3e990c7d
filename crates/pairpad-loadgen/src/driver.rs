//! Helpers over [`pairpad_client::Client`] shared by the scenarios: a small random generator,
//! a simulated typist, connecting many clients, noticing when an operation went out, and
//! waiting for a client to settle or catch up.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pairpad_client::{Client, ClientError, Event};
use pairpad_protocol::ClientMessage;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// SplitMix64: tiny, fast and good enough to pick keystrokes; seeded so runs are repeatable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }
}

/// What a keystroke does: replace `delete` characters at `position` with `insert`.
#[derive(Clone, Copy, Debug)]
pub struct Keystroke {
    pub position: usize,
    pub delete: usize,
    pub insert: &'static str,
}

/// Characters typed; a few are outside ASCII so every path has to count code points, not bytes.
const ALPHABET: [&str; 24] = [
    "e", "t", "a", "o", "i", "n", "s", "r", "l", "c", "u", "m", " ", " ", " ", "\n", "(", ")", "{", "}", ";", "_", "é",
    "🦀",
];

/// A simulated typist: types at a cursor, sometimes backspaces, now and then jumps elsewhere.
pub struct Typist {
    rng: Rng,
    cursor: usize,
}

impl Typist {
    pub fn new(seed: u64) -> Self {
        Self::starting_at(seed, 0)
    }

    /// A typist whose cursor starts at `cursor` (moved into the document if it is shorter).
    pub fn starting_at(seed: u64, cursor: usize) -> Self {
        Self { rng: Rng::new(seed), cursor }
    }

    /// The next keystroke on a document of `len` characters. Never a no-op.
    pub fn next(&mut self, len: usize) -> Keystroke {
        if self.cursor > len || self.rng.below(64) == 0 {
            self.cursor = self.rng.below(len + 1);
        }
        if self.cursor > 0 && self.rng.below(8) == 0 {
            self.cursor -= 1;
            return Keystroke { position: self.cursor, delete: 1, insert: "" };
        }
        let insert = ALPHABET[self.rng.below(ALPHABET.len())];
        let keystroke = Keystroke { position: self.cursor, delete: 0, insert };
        self.cursor += 1;
        keystroke
    }

    /// Types the next keystroke into `client` (sent now if nothing is in flight, else buffered).
    pub async fn type_into(&mut self, client: &mut Client) -> Result<(), ClientError> {
        let k = self.next(client.doc().len_chars());
        client.splice(k.position, k.delete, k.insert).await
    }
}

/// Source-like text of about `chars` characters, for rooms that start with a document.
pub fn sample_code(chars: usize) -> String {
    const LINES: [&str; 6] = [
        "fn handle(request: &Request) -> Result<Response, Error> {\n",
        "    let body = serde_json::from_slice(&request.body)?;\n",
        "    // Validate the input before touching the store.\n",
        "    if body.items.is_empty() { return Err(Error::Empty); }\n",
        "    Ok(Response::new(body.items.iter().map(|i| i.len()).sum()))\n",
        "}\n\n",
    ];
    let mut code = String::with_capacity(chars + 80);
    let mut i = 0;
    while code.len() < chars {
        code.push_str(LINES[i % LINES.len()]);
        i += 1;
    }
    code.truncate(chars);
    code
}

/// Opens one connection per `(WebSocket base URL, room)` of `targets`, at most `concurrency` at
/// a time, each in a task of its own (so the `init`s are parsed on every core). Results come
/// back in the order of `targets`.
pub async fn connect_many(
    targets: &[(String, String)],
    concurrency: usize,
) -> anyhow::Result<Vec<Result<Client, ClientError>>> {
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(targets.len());
    for (i, (ws, room)) in targets.iter().enumerate() {
        let (ws, room, gate) = (ws.clone(), room.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let name = format!("loadgen-{i}");
            Client::connect(&ws, &room, Some(&name)).await
        }));
    }
    let mut clients = Vec::with_capacity(targets.len());
    for task in tasks {
        clients.push(task.await.context("a connecting task panicked")?);
    }
    Ok(clients)
}

/// Notices when a client sent a new operation: the one in flight has a new `opId`.
#[derive(Default)]
pub struct SendTracker {
    last: Option<String>,
}

impl SendTracker {
    /// Whether `client` sent an operation since the last call.
    pub fn sent(&mut self, client: &Client) -> bool {
        let now = client.doc().outstanding().map(|o| o.op_id.as_str());
        if now.is_some() && now != self.last.as_deref() {
            self.last = now.map(str::to_owned);
            true
        } else {
            false
        }
    }
}

/// When client `i` of `n`, each typing every `interval` from `start`, types first: the clients'
/// schedules spread evenly over one interval, since people do not type in step (all at once,
/// every keystroke would reach the server as a burst of `n`).
pub fn staggered(start: Instant, interval: Duration, i: usize, n: usize) -> Instant {
    start + interval.mul_f64(i as f64 / n.max(1) as f64)
}

/// The next event, or `None` once `deadline` has passed with nothing to read. Events already
/// waiting are returned even after the deadline.
///
/// Cutting `next_event` short is safe while it waits for a frame. It can also cut it short while
/// it flushes an operation the ack released; the frame then stays in the socket's buffer until
/// the next write, which [`settle`] forces with a ping.
pub async fn next_event_until(client: &mut Client, deadline: Instant) -> Result<Option<Event>, ClientError> {
    match tokio::time::timeout_at(deadline, client.next_event()).await {
        Ok(event) => event.map(Some),
        Err(_) => Ok(None),
    }
}

/// Waits until every local edit of `client` is acknowledged.
pub async fn settle(client: &mut Client, limit: Duration) -> Result<(), ClientError> {
    let deadline = Instant::now() + limit;
    loop {
        match client.sync(Duration::from_secs(1)).await {
            Ok(()) => return Ok(()),
            Err(ClientError::Timeout) if Instant::now() < deadline => {
                // See `next_event_until`: a ping flushes a frame left in the write buffer.
                client.send_protocol_message(&ClientMessage::Ping).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads events until `client` has seen `revision`.
pub async fn catch_up(client: &mut Client, revision: u64, limit: Duration) -> Result<(), ClientError> {
    let deadline = Instant::now() + limit;
    while client.doc().revision() < revision {
        if next_event_until(client, deadline).await?.is_none() {
            return Err(ClientError::Timeout);
        }
    }
    Ok(())
}

/// Reads events until the next `ack`, failing on an `error` or after `limit`.
pub async fn await_ack(client: &mut Client, limit: Duration) -> Result<u64, ClientError> {
    let deadline = Instant::now() + limit;
    loop {
        match next_event_until(client, deadline).await? {
            Some(Event::Ack { revision, .. }) => return Ok(revision),
            Some(Event::Error { code, message }) => return Err(ClientError::Refused { code, message }),
            Some(_) => {}
            None => return Err(ClientError::Timeout),
        }
    }
}

/// The first characters of two texts where they differ, for a DIVERGED/MISMATCH report.
pub fn first_difference(a: &str, b: &str) -> String {
    let at = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let show = |s: &str| s.chars().skip(at.saturating_sub(10)).take(30).collect::<String>();
    format!(
        "lengths {} vs {} chars, first difference at {at}: {:?} vs {:?}",
        a.chars().count(),
        b.chars().count(),
        show(a),
        show(b)
    )
}

/// Closes connections concurrently, giving up on stragglers after a few seconds.
pub async fn close_all(clients: Vec<Client>) {
    let tasks: Vec<_> = clients.into_iter().map(|c| tokio::spawn(c.close())).collect();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        for task in tasks {
            let _ = task.await;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::staggered;

    #[test]
    fn staggered_schedules_spread_evenly_over_one_interval() {
        let start = Instant::now();
        let interval = Duration::from_millis(50);
        let firsts: Vec<Duration> = (0..5).map(|i| staggered(start, interval, i, 5) - start).collect();
        assert_eq!(firsts, [0, 10, 20, 30, 40].map(Duration::from_millis));
        assert_eq!(staggered(start, interval, 0, 0), start, "no clients: no division by zero");
    }
}
