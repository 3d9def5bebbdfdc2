//! A CRI v1 client (tonic over a unix socket) with a blocking face: a
//! current-thread tokio runtime runs each call to its end, so tests read
//! as sequential code.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

/// How long one CRI call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A CRI v1 client with a blocking face.
pub struct Client {
    rt: tokio::runtime::Runtime,
    channel: Channel,
}

impl Client {
    pub fn connect(socket: &Path) -> std::io::Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let path = socket.to_path_buf();
        let channel = rt
            .block_on(
                Endpoint::try_from("http://[::]:0")
                    .expect("a valid placeholder URI")
                    .connect_timeout(Duration::from_secs(10))
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let path = path.clone();
                        async move {
                            Ok::<_, std::io::Error>(TokioIo::new(
                                tokio::net::UnixStream::connect(path).await?,
                            ))
                        }
                    })),
            )
            .map_err(std::io::Error::other)?;
        Ok(Client { rt, channel })
    }

    /// One RuntimeService call, e.g. `c.rt(|mut s| async move { s.version(r).await })`,
    /// failed with DEADLINE_EXCEEDED after [`CALL_TIMEOUT`].
    pub fn rt<T, F, Fut>(&self, call: F) -> Result<T, tonic::Status>
    where
        F: FnOnce(RuntimeServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.block(call(RuntimeServiceClient::new(self.channel.clone())))
    }

    /// One ImageService call, as [`Client::rt`].
    pub fn img<T, F, Fut>(&self, call: F) -> Result<T, tonic::Status>
    where
        F: FnOnce(ImageServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.block(call(ImageServiceClient::new(self.channel.clone())))
    }

    fn block<T>(
        &self,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        self.rt.block_on(async {
            match tokio::time::timeout(CALL_TIMEOUT, fut).await {
                Ok(r) => r.map(tonic::Response::into_inner),
                Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                    "no answer in {CALL_TIMEOUT:?}"
                ))),
            }
        })
    }
}
