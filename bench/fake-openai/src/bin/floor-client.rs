//! The fastest client of `fake-openai`: CONCURRENCY keep-alive connections, each sending the
//! next chat completion as soon as the last is answered, until N are, with no work beyond
//! writing the request and reading the response. Its wall time is the floor that any client
//! (evalgate included) can reach against this server on this machine: the server's latency as
//! its timer delivers it, plus the machine's own cost of a loopback round trip.
//!
//! Usage: floor-client PORT N CONCURRENCY
//!
//! Prints one line: `floor_wall=…s floor_mean_latency=…ms`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BODY: &str = r#"{"model":"bench","messages":[{"role":"system","content":"You are a careful calculator. Answer with the number only."},{"role":"user","content":"Topic: arithmetic. What is 1 + 1?"}],"temperature":0.0,"max_tokens":16}"#;

fn main() -> std::io::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("PORT N CONCURRENCY, whole numbers"))
        .collect();
    let [port, n, concurrency] = args[..] else {
        panic!("usage: floor-client PORT N CONCURRENCY");
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
            BODY.len()
        );
        let request = Arc::new(request.into_bytes());
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (request, next) = (Arc::clone(&request), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(("127.0.0.1", port as u16)).await?;
                stream.set_nodelay(true)?;
                let mut waited = Duration::ZERO;
                let mut buf = Vec::with_capacity(4096);
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let sent = Instant::now();
                    stream.write_all(&request).await?;
                    buf.clear();
                    read_response(&mut stream, &mut buf).await?;
                    waited += sent.elapsed();
                }
                Ok::<_, std::io::Error>(waited)
            }));
        }
        let mut waited = Duration::ZERO;
        for task in tasks {
            waited += task.await.expect("task")?;
        }
        let wall = start.elapsed();
        println!(
            "floor_wall={:.2}s floor_mean_latency={:.2}ms",
            wall.as_secs_f64(),
            waited.as_secs_f64() * 1000.0 / n as f64
        );
        Ok(())
    })
}

/// Reads one response: headers up to the blank line, then `content-length` bytes of body.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Ok(());
            }
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}
