//! A DNS server for tests, in process: one zone, `test.`, whose records the test changes while
//! it runs, and SERVFAIL on demand.
//!
//! Names in the zone that have no records get NXDOMAIN, existing names without the asked type
//! NODATA; the SOA minimum is 0, so that resolvers cache neither. Names outside `test.` get
//! REFUSED (hickory's Catalog), which resolvers take as a temporary failure. Records have TTL 0.

use std::{
    collections::HashSet,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use hickory_server::{
    net::runtime::Time,
    proto::{
        op::ResponseCode,
        rr::{
            rdata::{A, MX, SOA},
            LowerName, Name, RData, Record,
        },
    },
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    store::in_memory::InMemoryZoneHandler,
    zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneHandler, ZoneType},
    Server,
};
use tokio::net::{TcpListener, UdpSocket};

type Failing = Arc<Mutex<HashSet<LowerName>>>;

/// The server; it stops when dropped.
pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    failing: Failing,
    _server: Server<Handler>,
}

impl std::fmt::Debug for TestDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDns").field("addr", &self.addr).finish()
    }
}

impl TestDns {
    /// Serves the empty zone `test.` on 127.0.0.1, UDP and TCP on one port.
    pub async fn start() -> Self {
        let origin = name("test.");
        let zone = Arc::new(InMemoryZoneHandler::empty(
            origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        ));
        let soa = SOA::new(name("ns.test."), name("root.test."), 1, 60, 60, 60, 0);
        zone.upsert(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1)
            .await;
        let mut catalog = Catalog::new();
        catalog.upsert(
            LowerName::from(&origin),
            vec![zone.clone() as Arc<dyn ZoneHandler>],
        );
        let failing = Failing::default();
        let mut server = Server::new(Handler {
            catalog,
            failing: failing.clone(),
        });
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().expect("UDP address");
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 4096);
        Self {
            addr,
            zone,
            failing,
            _server: server,
        }
    }

    /// Where to send queries (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An MX record at `domain`; `exchange` "." makes the null MX of RFC 7505.
    pub async fn add_mx(&self, domain: &str, preference: u16, exchange: &str) {
        let exchange = if exchange == "." {
            Name::root()
        } else {
            name(exchange)
        };
        self.add(domain, RData::MX(MX::new(preference, exchange)))
            .await;
    }

    /// An A record at `name`.
    pub async fn add_a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, RData::A(A(ip))).await;
    }

    /// Removes every record at `name`: it then gets NXDOMAIN.
    pub async fn remove(&self, name: &str) {
        let lower = LowerName::from(&self::name(name));
        self.zone
            .records_mut()
            .await
            .retain(|key, _| key.name != lower);
    }

    /// Answers SERVFAIL to every query at `name` (`on`), or answers normally again.
    pub async fn set_servfail(&self, name: &str, on: bool) {
        let lower = LowerName::from(&self::name(name));
        let mut failing = self.failing.lock().expect("the SERVFAIL set");
        if on {
            failing.insert(lower);
        } else {
            failing.remove(&lower);
        }
    }

    async fn add(&self, at: &str, data: RData) {
        let record = Record::from_rdata(name(at), 0, data);
        assert!(
            self.zone.upsert(record, 1).await,
            "{at} is in the zone test."
        );
    }
}

/// `s` as an absolute name ("b.test" and "b.test." alike).
fn name(s: &str) -> Name {
    let mut name = Name::from_ascii(s).unwrap_or_else(|e| panic!("{s:?} is a DNS name: {e}"));
    name.set_fqdn(true);
    name
}

/// A UDP socket on 127.0.0.1 port 0 and a TCP listener on the same port. Another process may
/// hold that TCP port: then try another.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    let mut last = None;
    for _ in 0..10 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = udp.local_addr().expect("UDP address");
        match TcpListener::bind(addr).await {
            Ok(tcp) => return (udp, tcp),
            Err(e) => last = Some(e),
        }
    }
    panic!("no port free for both UDP and TCP: {last:?}");
}

/// The zone, with SERVFAIL for the names in `failing`.
struct Handler {
    catalog: Catalog,
    failing: Failing,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let fail = {
            let failing = self.failing.lock().expect("the SERVFAIL set");
            request
                .queries
                .queries()
                .iter()
                .any(|q| failing.contains(q.name()))
        };
        if !fail {
            return self
                .catalog
                .handle_request::<R, T>(request, response_handle)
                .await;
        }
        let response = MessageResponseBuilder::new(&request.queries, None)
            .error_msg(&request.metadata, ResponseCode::ServFail);
        response_handle
            .send_response(response)
            .await
            .expect("send the SERVFAIL answer")
    }
}
