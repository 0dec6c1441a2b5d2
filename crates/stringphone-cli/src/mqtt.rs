//! What `chat` and `rotate` share to reach a broker: the broker's URL, the topic's
//! name, and a client of ours.

use std::time::Duration;

use rand_core::{OsRng, RngCore};
use rumqttc::{Client, Connection, MqttOptions};

use crate::args::MqttArgs;
use crate::error::{Failure, Result};
use crate::proto::to_hex;

/// The broker's host and port, once the broker's URL and the topic's name are checked:
/// what `chat` and `rotate` do before anything else.
pub fn check(args: &MqttArgs) -> Result<(String, u16)> {
    let broker = parse_broker(&args.broker)?;
    check_topic_name(&args.topic)?;
    Ok(broker)
}

/// A client of the broker at `host:port`, under a fresh client id (`prefix-` and 16
/// random hex digits), holding at most `capacity` requests; nothing is sent until its
/// connection is driven.
pub fn client(prefix: &str, host: String, port: u16, capacity: usize) -> (Client, Connection) {
    let mut nonce = [0u8; 8];
    OsRng.fill_bytes(&mut nonce);
    let mut options = MqttOptions::new(format!("{prefix}-{}", to_hex(&nonce)), host, port);
    options
        .set_keep_alive(Duration::from_secs(15))
        .set_clean_session(true)
        .set_max_packet_size(1 << 20, 1 << 20);
    Client::new(options, capacity)
}

/// `mqtt://HOST:PORT` (or `tcp://`, or a bare `HOST[:PORT]`) to host and port.
pub fn parse_broker(url: &str) -> Result<(String, u16)> {
    let bad = |why: &str| Failure::new(format!("broker {url:?}: {why}"));
    let rest = match url.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => rest,
        Some(("mqtts" | "ssl" | "tls", _)) => {
            return Err(bad(
                "TLS is not built into this command: use mqtt://HOST:PORT",
            ))
        }
        Some(_) => return Err(bad("expected mqtt://HOST:PORT")),
        None => url,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '@', '?']) {
        return Err(bad("expected mqtt://HOST:PORT (no path, no credentials)"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => 1883,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok((host.to_string(), port))
}

/// Refuses a `--topic` that is no MQTT topic name one can publish to.
pub fn check_topic_name(topic: &str) -> Result<()> {
    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
        return Err(Failure::new(format!(
            "--topic {topic:?}: an MQTT topic name must be non-empty, without '+', '#' or NUL"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_broker;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_broker("mqtt://127.0.0.1:1884").unwrap(),
            ("127.0.0.1".into(), 1884)
        );
        assert_eq!(
            parse_broker("mqtt://localhost").unwrap(),
            ("localhost".into(), 1883)
        );
        assert_eq!(parse_broker("tcp://[::1]:99/").unwrap(), ("::1".into(), 99));
        assert_eq!(parse_broker("host:7").unwrap(), ("host".into(), 7));
        for bad in [
            "mqtts://h:1",
            "http://h",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://:1",
            "mqtt://u@h",
        ] {
            assert!(parse_broker(bad).is_err(), "{bad}");
        }
    }
}
