//! A folder of a bucket as an object store of its own: `object_store`'s `PrefixStore`, with
//! the object a read returns named relative to the folder, as its listings already are.
//! (In `object_store` 0.13, `PrefixStore::get_opts`, and so `head`, keep the bucket's full
//! name; DataFusion checks that a file it reads lies under its table's URL, and finds
//! none.)

use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result,
};

/// The objects of `inner` under a prefix, named relative to it.
#[derive(Debug)]
pub struct Folder<T: ObjectStore> {
    inner: PrefixStore<T>,
    prefix: Path,
}

impl<T: ObjectStore> Folder<T> {
    pub fn new(inner: T, prefix: &str) -> Folder<T> {
        let prefix = Path::from(prefix);
        Folder { inner: PrefixStore::new(inner, prefix.clone()), prefix }
    }
}

impl<T: ObjectStore> std::fmt::Display for Folder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Folder({})", self.inner)
    }
}

#[async_trait::async_trait]
impl<T: ObjectStore> ObjectStore for Folder<T> {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut result = self.inner.get_opts(location, options).await?;
        let relative: Option<Path> = result.meta.location.prefix_match(&self.prefix).map(Iterator::collect);
        if let Some(relative) = relative {
            result.meta.location = relative;
        }
        Ok(result)
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;
    use object_store::ObjectStoreExt;
    use object_store::local::LocalFileSystem;

    use super::*;

    #[tokio::test]
    async fn reads_and_listings_name_objects_relative_to_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap(), "prod/us");
        let path = Path::from("project=1/day=2026-12-01/flush-1.parquet");
        folder.put(&path, bytes::Bytes::from_static(b"abc").into()).await.unwrap();
        assert!(dir.path().join("prod/us/project=1/day=2026-12-01/flush-1.parquet").exists());
        assert_eq!(folder.head(&path).await.unwrap().location, path);
        assert_eq!(folder.get(&path).await.unwrap().meta.location, path);
        let listed: Vec<ObjectMeta> = folder.list(None).try_collect().await.unwrap();
        assert_eq!(listed.iter().map(|meta| meta.location.clone()).collect::<Vec<_>>(), vec![path.clone()]);
        folder.delete(&path).await.unwrap();
        assert!(!dir.path().join("prod/us/project=1/day=2026-12-01/flush-1.parquet").exists());
    }
}
