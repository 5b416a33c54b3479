//! MongoDB end to end against the test server of `scripts/test`
//! (SecantusDB, a MongoDB-wire-compatible server; TLS required, CA in
//! `VARLOR_TEST_MONGO_CA`). Every test is written to pass on a real `mongod`
//! too. Fixtures are made by the driver itself (as the test's admin, or as
//! the test user in its own database), each test in collections of its own.
//!
//! Skips with a notice without the server; fails under CI=true.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mongodb::bson::{self, doc, Bson, Document};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use common::conformance::{Bulk, Cap, Fixture, Harness};
use common::ServerEnv;
use varlor::connectors::{
    connector_for, Cell, ConnSpec, Connector, ErrorKind, Kind, SessionOptions, TableKind, TableRef,
    TlsMode,
};
use varlor::dataset::{
    run_import, Format, ImportEvent, ImportOutcome, ImportPlan, TableOutcome, TablePlan,
};

struct Mongo(ServerEnv);

fn harness() -> Option<Mongo> {
    common::mongo().map(Mongo)
}

/// The server's spec as the test user: verify-full with the CA, direct connection.
fn user_spec(env: &ServerEnv) -> ConnSpec {
    let mut spec = env.spec(Kind::Mongodb);
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = env.ca.clone();
    spec.options
        .insert("directConnection".into(), "true".into());
    spec
}

fn connector(spec: &ConnSpec, password: &str) -> Box<dyn Connector> {
    connector_for(
        spec,
        Some(SecretString::from(password.to_string())),
        SessionOptions::default(),
    )
    .expect("MongoDB is available in this build")
}

fn admin_env() -> (String, String) {
    let user = std::env::var("VARLOR_TEST_MONGO_ADMIN_USER")
        .expect("VARLOR_TEST_MONGO_ADMIN_USER (scripts/testdb/mongo.sh)");
    let pw = std::env::var("VARLOR_TEST_MONGO_ADMIN_PASSWORD")
        .expect("VARLOR_TEST_MONGO_ADMIN_PASSWORD (scripts/testdb/mongo.sh)");
    (user, pw)
}

/// The test admin through Varlor: no database of its own, auth source admin.
fn admin_connector(env: &ServerEnv) -> Box<dyn Connector> {
    let (user, pw) = admin_env();
    let mut spec = user_spec(env);
    spec.user = user;
    spec.database = String::new();
    spec.options.insert("authSource".into(), "admin".into());
    connector(&spec, &pw)
}

/// The driver itself, as the test admin, for fixtures and for reading back.
async fn driver(env: &ServerEnv) -> mongodb::Client {
    let (user, pw) = admin_env();
    let ca = env.ca.clone().expect("a CA for the MongoDB test server");
    let uri = format!(
        "mongodb://{}:{}/?tls=true&tlsCAFile={}&directConnection=true",
        env.host,
        env.port,
        ca.display()
    );
    let mut o = mongodb::options::ClientOptions::parse(uri)
        .await
        .expect("driver options");
    o.credential = Some(
        mongodb::options::Credential::builder()
            .username(user)
            .password(pw)
            .source("admin".to_string())
            .build(),
    );
    mongodb::Client::with_options(o).expect("driver client")
}

/// A collection name of this test process (tests run in parallel).
fn unique(base: &str) -> String {
    format!("{base}_{}", std::process::id())
}

fn coll_ref(db: &str, name: &str) -> TableRef {
    TableRef {
        schema: Some(db.into()),
        name: name.into(),
        kind: TableKind::Collection,
        estimated_rows: None,
        system: false,
    }
}

async fn fresh(c: &mongodb::Client, db: &str, name: &str, docs: Vec<Document>) {
    let coll = c.database(db).collection::<Document>(name);
    coll.drop().await.expect("drop");
    if !docs.is_empty() {
        coll.insert_many(docs).await.expect("insert");
    }
}

// ------------------------------------------------------------ the shared suite

#[async_trait]
impl Harness for Mongo {
    fn spec(&self) -> ConnSpec {
        user_spec(&self.0)
    }
    fn password(&self) -> Option<String> {
        Some(self.0.password.clone())
    }
    fn has(&self, cap: Cap) -> bool {
        matches!(cap, Cap::Network | Cap::Tls | Cap::Password)
    }
    fn ca(&self) -> Option<std::path::PathBuf> {
        self.0.ca.clone()
    }
    fn fixture(&self) -> Fixture {
        unreachable!("MongoDB runs only the connection cases of the suite (its fixture is here)")
    }
    async fn write_evidence(&self) -> String {
        unreachable!("MongoDB runs only the connection cases of the suite")
    }
    async fn create_tables(&self, _n: usize) -> Result<Bulk, String> {
        unreachable!("MongoDB runs only the connection cases of the suite")
    }
    async fn drop_tables(&self, _bulk: &Bulk) {}
}

// The SQL fixture cases (read-only sessions, statement timeouts, schemas,
// smuggled statements…) do not apply to a document store; their MongoDB
// counterparts are the tests below.
conformance_tests!(@cases harness;
    closed_port_is_refused_quickly,
    silent_listener_times_out_at_the_configured_timeout,
    unknown_host_is_reported,
    verify_full_with_the_ca_succeeds_over_tls,
    verify_full_without_the_ca_is_not_trusted,
    bad_ca_file_is_a_config_error_naming_it,
    wrong_password_is_invalid_credentials,
);

// ------------------------------------------------------------ test()

#[tokio::test]
async fn test_over_tls_shows_version_and_deployment() {
    let Some(env) = common::mongo() else { return };
    let info = connector(&user_spec(&env), &env.password)
        .test()
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert!(info.tls);
    let v = info.version.clone();
    let number = v
        .strip_prefix("MongoDB ")
        .expect("version")
        .split(',')
        .next()
        .unwrap();
    assert!(
        number.split('.').all(|p| p.parse::<u32>().is_ok()),
        "version number: {v}"
    );
    assert!(
        v.contains("replica set") || v.contains("standalone") || v.contains("sharded"),
        "deployment: {v}"
    );
    println!("{v} in {:?}", info.latency);
}

#[tokio::test]
async fn the_servers_own_uri_parses_and_connects() {
    let Some(env) = common::mongo() else { return };
    let uri = std::env::var("VARLOR_TEST_MONGO_URI").expect("VARLOR_TEST_MONGO_URI");
    let (spec, password) = ConnSpec::from_url(&uri).expect("parse");
    assert_eq!(spec.kind, Kind::Mongodb);
    assert_eq!(spec.tls, TlsMode::VerifyFull);
    assert_eq!(spec.user, env.user);
    assert!(!serde_json::to_string(&spec)
        .unwrap()
        .contains(&env.password));
    let info = connector_for(&spec, password, SessionOptions::default())
        .unwrap()
        .test()
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert!(info.tls);
}

#[tokio::test]
async fn closed_port_is_refused_in_under_a_second() {
    let Some(env) = common::mongo() else { return };
    let mut spec = user_spec(&env);
    spec.port = Some(common::closed_port());
    let started = Instant::now();
    let err = connector(&spec, &env.password).test().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::ConnectionRefused, "{}", err.full());
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert!(
        err.detail
            .contains(&format!("127.0.0.1:{}", spec.port.unwrap())),
        "{}",
        err.detail
    );
}

#[tokio::test]
async fn plain_connection_to_a_tls_only_server_fails_clearly() {
    let Some(env) = common::mongo() else { return };
    let mut spec = user_spec(&env);
    spec.tls = TlsMode::Disable;
    spec.ca_file = None;
    spec.connect_timeout_secs = 3;
    let err = connector(&spec, &env.password).test().await.unwrap_err();
    assert!(
        matches!(
            err.kind,
            ErrorKind::ConnectionLost | ErrorKind::ConnectionTimeout | ErrorKind::TlsRequired
        ),
        "{}",
        err.full()
    );
    assert!(!err.full().contains(&env.password));
}

// ------------------------------------------------------------ listing

#[tokio::test]
async fn lists_the_users_database_with_estimates_and_a_view() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let view = unique("paid_view");
    let db = c.database(&env.db);
    let _ = db.collection::<Document>(&view).drop().await;
    db.run_command(doc! {
        "create": &view, "viewOn": "orders", "pipeline": [ { "$match": { "status": "paid" } } ],
    })
    .await
    .expect("create view");
    let started = Instant::now();
    let tables = connector(&user_spec(&env), &env.password)
        .list_tables()
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    println!("listed {} in {:?}", tables.len(), started.elapsed());
    let find = |n: &str| {
        tables
            .iter()
            .find(|t| t.name == n && t.schema.as_deref() == Some(env.db.as_str()))
            .unwrap_or_else(|| panic!("{n} not listed: {tables:?}"))
    };
    assert_eq!(find("customers").kind, TableKind::Collection);
    assert_eq!(find("customers").estimated_rows, Some(1000));
    assert_eq!(find("orders").estimated_rows, Some(5000));
    assert_eq!(find("Weird Name").estimated_rows, Some(3));
    assert_eq!(find("sales.regions").estimated_rows, Some(3));
    assert_eq!(find(&view).kind, TableKind::View);
    assert_eq!(find(&view).estimated_rows, None);
    // A user with access to one database sees that one (listDatabases
    // names only it on mongod; SecantusDB refuses it and Varlor falls back).
    assert!(tables
        .iter()
        .all(|t| t.schema.as_deref() == Some(env.db.as_str())));
    db.collection::<Document>(&view).drop().await.unwrap();
}

#[tokio::test]
async fn admin_lists_several_databases_odd_names_and_a_thousand_collections() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let many = unique("varlor_many");
    let odd = unique("odd");
    let mdb = c.database(&many);
    mdb.drop().await.unwrap();
    let started = Instant::now();
    for i in 0..1000 {
        mdb.create_collection(format!("c{i:04}"))
            .await
            .expect("create");
    }
    println!("made 1000 collections in {:?}", started.elapsed());
    let odd_name = "we ird.name ünïcödé ✓";
    let odb = c.database(&odd);
    odb.drop().await.unwrap();
    odb.collection::<Document>(odd_name)
        .insert_many(vec![doc! { "_id": 1 }, doc! { "_id": 2 }])
        .await
        .unwrap();
    odb.run_command(doc! { "create": "odd view", "viewOn": odd_name, "pipeline": [] })
        .await
        .unwrap();

    let v = admin_connector(&env);
    let started = Instant::now();
    let tables = v
        .list_tables()
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    let took = started.elapsed();
    println!("listed {} collections in {took:?}", tables.len());
    let in_db = |db: &str| {
        tables
            .iter()
            .filter(|t| t.schema.as_deref() == Some(db))
            .count()
    };
    assert_eq!(in_db(&many), 1000);
    assert!(in_db(&env.db) >= 4, "{tables:?}");
    let o = tables
        .iter()
        .find(|t| t.schema.as_deref() == Some(odd.as_str()) && t.name == odd_name)
        .expect("odd name listed");
    assert_eq!(o.kind, TableKind::Collection);
    assert_eq!(o.estimated_rows, Some(2));
    assert!(tables
        .iter()
        .any(|t| t.name == "odd view" && t.kind == TableKind::View));
    // The odd name previews its own documents.
    let rs = v.preview(o, 10).await.unwrap();
    assert_eq!(rs.rows.len(), 2);
    mdb.drop().await.unwrap();
    odb.drop().await.unwrap();
}

// ------------------------------------------------------------ structure

/// 200 documents built so that every percentage is known.
fn awkward_docs() -> Vec<Document> {
    (0..200i32)
        .map(|i| {
            let mut d = doc! { "_id": i };
            match i % 4 {
                0 => d.insert("mixed", format!("s{i}")),
                1 => d.insert("mixed", i),
                2 => d.insert("mixed", doc! { "inner": i }),
                _ => None, // missing in a quarter
            };
            if i % 2 == 0 {
                d.insert(
                    "items",
                    vec![
                        Bson::Document(doc! { "sku": "a", "qty": i }),
                        Bson::Document(doc! { "sku": "b", "qty": i64::from(i) }),
                    ],
                );
            }
            if i % 5 == 0 {
                d.insert("deep", doc! { "l1": { "l2": { "l3": i } } });
            }
            for f in 0..56 {
                // f00..f29 always, f30..f55 in every other document.
                if f < 30 || i % 2 == 1 {
                    d.insert(format!("f{f:02}"), f);
                }
            }
            d
        })
        .collect()
}

#[tokio::test]
async fn sampling_an_awkward_collection_gives_exact_shares() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let name = unique("awkward");
    fresh(&c, &env.db, &name, awkward_docs()).await;
    let v = connector(&user_spec(&env), &env.password);
    let info = v
        .describe(&coll_ref(&env.db, &name))
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(info.sampled, Some(200));
    assert_eq!(info.estimated_rows, Some(200));
    let col = |n: &str| {
        info.columns
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("no field {n}: {:?}", info.columns))
    };
    assert_eq!(info.columns[0].name, "_id");
    assert!(col("_id").primary_key);
    assert_eq!(col("_id").presence, Some(1.0));
    assert_eq!(col("mixed").presence, Some(0.75));
    assert_eq!(col("mixed").data_type, "string 33%, int 33%, object 33%");
    assert!(col("mixed").nullable);
    assert_eq!(col("mixed.inner").presence, Some(0.25));
    assert_eq!(col("items").presence, Some(0.5));
    assert_eq!(col("items").data_type, "array 100%");
    assert_eq!(col("items[]").data_type, "object 100%");
    assert_eq!(col("items[].sku").data_type, "string 100%");
    assert_eq!(col("items[].qty").data_type, "int 100%, long 100%");
    assert_eq!(col("deep.l1.l2.l3").presence, Some(0.2));
    assert_eq!(col("f00").presence, Some(1.0));
    assert_eq!(col("f55").presence, Some(0.5));
    // 60 top-level fields: _id, mixed, items, deep, f00..f55.
    assert_eq!(
        info.columns
            .iter()
            .filter(|c| !c.name.contains(['.', '[']))
            .count(),
        60
    );
    // Indexes come with the structure.
    c.database(&env.db)
        .run_command(doc! {
            "createIndexes": &name,
            "indexes": [ { "key": { "mixed": 1, "_id": -1 }, "name": "by_mixed" } ],
        })
        .await
        .unwrap();
    let idx = v.indexes(&coll_ref(&env.db, &name)).await.unwrap();
    assert!(idx.iter().any(|i| i.starts_with("_id_: ")), "{idx:?}");
    assert!(
        idx.contains(&r#"by_mixed: {"mixed":1,"_id":-1}"#.to_string()),
        "{idx:?}"
    );
    c.database(&env.db)
        .collection::<Document>(&name)
        .drop()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sample_size_is_configurable_and_the_validator_and_indexes_come_with_the_structure() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let name = unique("validated");
    let db = c.database(&env.db);
    db.collection::<Document>(&name).drop().await.unwrap();
    let schema = doc! {
        "bsonType": "object",
        "required": ["qty"],
        "properties": { "qty": { "bsonType": "int", "minimum": 0 }, "sku": { "bsonType": "string" } },
    };
    db.run_command(doc! { "create": &name, "validator": { "$jsonSchema": schema.clone() } })
        .await
        .unwrap();
    let docs: Vec<Document> = (0..300)
        .map(|i: i32| doc! { "_id": i, "qty": i, "sku": format!("s{i}") })
        .collect();
    db.collection::<Document>(&name)
        .insert_many(docs)
        .await
        .unwrap();
    let table = coll_ref(&env.db, &name);

    let info = connector(&user_spec(&env), &env.password)
        .describe(&table)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(info.sampled, Some(300), "the default (1,000) takes all 300");
    assert_eq!(
        info.validator,
        Some(Bson::Document(schema).into_relaxed_extjson())
    );
    assert!(
        info.indexes.iter().any(|i| i.starts_with("_id_: ")),
        "{:?}",
        info.indexes
    );

    let small = connector_for(
        &user_spec(&env),
        Some(SecretString::from(env.password.clone())),
        SessionOptions {
            sample_size: 50,
            ..Default::default()
        },
    )
    .unwrap();
    let info = small.describe(&table).await.unwrap();
    assert_eq!(info.sampled, Some(50));
    assert_eq!(info.estimated_rows, Some(300));
    // A collection without a validator has none.
    let plain = unique("unvalidated");
    fresh(&c, &env.db, &plain, vec![doc! { "_id": 1 }]).await;
    let info = small.describe(&coll_ref(&env.db, &plain)).await.unwrap();
    assert_eq!(info.validator, None);
    for n in [&name, &plain] {
        db.collection::<Document>(n).drop().await.unwrap();
    }
}

// ------------------------------------------------------------ values

fn every_type() -> Document {
    use bson::{
        oid::ObjectId, spec::BinarySubtype, Binary, Decimal128, JavaScriptCodeWithScope, Regex,
        Timestamp,
    };
    doc! {
        "_id": ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap(),
        "int": 42i32,
        "long": i64::MAX,
        "double": 1.5f64,
        "nan": f64::NAN,
        "inf": f64::INFINITY,
        "ninf": f64::NEG_INFINITY,
        "dec": "12345678901234567890.123456789".parse::<Decimal128>().unwrap(),
        "str": "ünïcödé ✓",
        "bool": true,
        "null": Bson::Null,
        "moon": bson::DateTime::from_millis(-14182940000),
        "date": bson::DateTime::from_millis(1704067200000),
        "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: (0u8..16).collect() },
        "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 254, 255] },
        "ts": Timestamp { time: 1700000000, increment: 7 },
        "re": Regex { pattern: "^a.*z$".into(), options: "i".into() },
        "min": Bson::MinKey,
        "max": Bson::MaxKey,
        "code": Bson::JavaScriptCode("function() { return 1; }".into()),
        "scope": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code: "x".into(), scope: doc! { "x": 1 } }),
        "doc": { "a": [1, { "b": "c" }] },
        "arr": [1, "two", 3.5],
    }
}

#[tokio::test]
async fn preview_renders_every_bson_type_faithfully() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let name = unique("all_types");
    let source = every_type();
    fresh(&c, &env.db, &name, vec![source.clone()]).await;
    let rs = connector(&user_spec(&env), &env.password)
        .preview(&coll_ref(&env.db, &name), 10)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(rs.rows.len(), 1);
    let names: Vec<&str> = rs.columns.iter().map(|c| c.name.as_str()).collect();
    let expected_names: Vec<&str> = source.keys().map(String::as_str).collect();
    assert_eq!(names, expected_names, "_id first, then document order");
    let cell = |n: &str| rs.rows[0][names.iter().position(|x| *x == n).unwrap()].clone();
    let t = |s: &str| Cell::Text(s.into());
    assert_eq!(cell("_id"), t("65a1b2c3d4e5f60718293a4b"));
    assert_eq!(cell("int"), Cell::Int(42));
    assert_eq!(cell("long"), Cell::Int(i64::MAX));
    assert_eq!(cell("double"), Cell::Float(1.5));
    assert_eq!(cell("dec"), t("12345678901234567890.123456789"));
    assert_eq!(cell("str"), t("ünïcödé ✓"));
    assert_eq!(cell("bool"), Cell::Bool(true));
    assert_eq!(cell("null"), Cell::Null);
    assert_eq!(cell("moon"), t("1969-07-20T20:17:40.000Z"));
    assert_eq!(cell("date"), t("2024-01-01T00:00:00.000Z"));
    assert_eq!(cell("uuid"), t("00010203-0405-0607-0809-0a0b0c0d0e0f"));
    assert_eq!(cell("bin"), Cell::Bytes(vec![0, 1, 254, 255]));
    // The rest: what the driver's own relaxed Extended JSON says.
    for n in [
        "nan", "inf", "ninf", "ts", "re", "min", "max", "code", "scope", "doc", "arr",
    ] {
        let own = source.get(n).unwrap().clone().into_relaxed_extjson();
        assert_eq!(cell(n), Cell::Json(own), "{n}");
    }
    assert_eq!(
        cell("nan"),
        Cell::Json(serde_json::json!({"$numberDouble": "NaN"}))
    );
    assert_eq!(cell("min"), Cell::Json(serde_json::json!({"$minKey": 1})));
    // The JSON view (`v`) shows the document as the driver's own relaxed
    // Extended JSON, field order kept.
    let own = Bson::Document(source.clone()).into_relaxed_extjson();
    assert_eq!(rs.row_document(0), Some(own.clone()));
    assert_eq!(
        rs.row_json_text(0).unwrap(),
        serde_json::to_string_pretty(&own).unwrap()
    );
    let keys: Vec<&String> = own.as_object().unwrap().keys().collect();
    assert_eq!(keys, expected_names);
    c.database(&env.db)
        .collection::<Document>(&name)
        .drop()
        .await
        .unwrap();
}

// ------------------------------------------------------------ import

async fn import(
    v: Arc<dyn Connector>,
    plans: Vec<TablePlan>,
    dest: &Path,
    format: Format,
) -> varlor::dataset::ImportSummary {
    let plan = ImportPlan {
        connection: "test-mongo".into(),
        kind: Kind::Mongodb,
        tables: plans,
        destination: dest.to_path_buf(),
        format,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    run_import(v, plan, tx, CancellationToken::new()).await
}

fn ok(summary: &varlor::dataset::ImportSummary) {
    for t in &summary.tables {
        if let TableOutcome::Failed { error } = &t.outcome {
            panic!("{}: {error}", t.table.display_name());
        }
    }
    assert_eq!(summary.outcome(), ImportOutcome::Ok, "{summary:?}");
}

fn arc(env: &ServerEnv) -> Arc<dyn Connector> {
    Arc::from(connector(&user_spec(env), &env.password))
}

/// Canonical Extended JSON text of a document: equality that holds for NaN.
fn canonical(d: &Document) -> String {
    Bson::Document(d.clone())
        .into_canonical_extjson()
        .to_string()
}

async fn source_docs(c: &mongodb::Client, db: &str, name: &str, filter: Document) -> Vec<Document> {
    use futures::TryStreamExt;
    c.database(db)
        .collection::<Document>(name)
        .find(filter)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn jsonl_import_round_trips_documents_field_by_field() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let name = unique("roundtrip");
    let mut docs = vec![every_type()];
    docs.extend(awkward_docs().into_iter().take(20));
    fresh(&c, &env.db, &name, docs).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let summary = import(
        arc(&env),
        vec![
            TablePlan::new(coll_ref(&env.db, &name)),
            TablePlan::new(coll_ref(&env.db, "orders")),
        ],
        &dest,
        Format::Jsonl,
    )
    .await;
    ok(&summary);
    for coll in [name.as_str(), "orders"] {
        let file = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.extension().is_some_and(|x| x == "jsonl")
                    && p.file_stem().unwrap().to_string_lossy().contains(coll)
            })
            .unwrap_or_else(|| panic!("no JSONL file for {coll}"));
        let text = std::fs::read_to_string(&file).unwrap();
        let back: BTreeMap<String, String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let Bson::Document(d) = Bson::try_from(v).unwrap() else {
                    panic!("not a document: {l}")
                };
                (d.get("_id").unwrap().to_string(), canonical(&d))
            })
            .collect();
        let source: BTreeMap<String, String> = source_docs(&c, &env.db, coll, doc! {})
            .await
            .iter()
            .map(|d| (d.get("_id").unwrap().to_string(), canonical(d)))
            .collect();
        assert_eq!(back.len(), source.len(), "{coll}");
        assert_eq!(back, source, "{coll}");
    }
    c.database(&env.db)
        .collection::<Document>(&name)
        .drop()
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_import_types_columns_and_filters() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let name = unique("typed");
    fresh(&c, &env.db, &name, vec![every_type()]).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("m.sqlite");
    let mut paid = TablePlan::new(coll_ref(&env.db, "orders"));
    paid.filter = Some(r#"{"status": "paid"}"#.into());
    let summary = import(
        arc(&env),
        vec![TablePlan::new(coll_ref(&env.db, &name)), paid],
        &dest,
        Format::Sqlite,
    )
    .await;
    ok(&summary);
    let db = rusqlite::Connection::open(&dest).unwrap();
    let table_of = |coll: &str| -> String {
        db.query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%' || ?1",
            [coll],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("no table for {coll}: {e}"))
    };
    let (typed, orders) = (table_of(&name), table_of("orders"));
    let decls: BTreeMap<String, String> = db
        .prepare(&format!(
            "SELECT name, type FROM pragma_table_info('{typed}')"
        ))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (col, decl) in [
        ("_id", "TEXT"),
        ("int", "INTEGER"),
        ("long", "INTEGER"),
        ("double", "REAL"),
        ("bool", "INTEGER"),
        ("dec", "TEXT"),
        ("date", "TEXT"),
        ("bin", "BLOB"),
        ("doc", "TEXT"),
    ] {
        assert_eq!(
            decls.get(col).map(String::as_str),
            Some(decl),
            "{col}: {decls:?}"
        );
    }
    let (id, long, bool_, date, doc_, bin): (String, i64, i64, String, String, Vec<u8>) = db
        .query_row(
            &format!(
                "SELECT \"_id\", \"long\", \"bool\", \"date\", \"doc\", \"bin\" FROM \"{typed}\""
            ),
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(id, "65a1b2c3d4e5f60718293a4b");
    assert_eq!(long, i64::MAX);
    assert_eq!(bool_, 1);
    assert_eq!(date, "2024-01-01T00:00:00.000Z");
    assert_eq!(doc_, r#"{"a":[1,{"b":"c"}]}"#);
    assert_eq!(bin, vec![0, 1, 254, 255]);
    // The filter: orders with status paid (id % 4 == 1): 1,250 of 5,000.
    let paid: i64 = db
        .query_row(
            &format!("SELECT count(*) FROM \"{orders}\" WHERE status = 'paid'"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let all: i64 = db
        .query_row(&format!("SELECT count(*) FROM \"{orders}\""), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!((paid, all), (1250, 1250));
    c.database(&env.db)
        .collection::<Document>(&name)
        .drop()
        .await
        .unwrap();
}

#[tokio::test]
async fn csv_import_has_one_column_per_top_level_field() {
    let Some(env) = common::mongo() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("csv");
    let summary = import(
        arc(&env),
        vec![TablePlan::new(coll_ref(&env.db, "customers"))],
        &dest,
        Format::Csv,
    )
    .await;
    ok(&summary);
    let file = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "csv"))
        .expect("a CSV file");
    let mut r = csv::Reader::from_path(&file).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "_id",
            "name",
            "country",
            "created_at",
            "tags",
            "address",
            "email"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1000);
    let first = rows.iter().find(|r| &r[0] == "1").unwrap();
    assert_eq!(&first[1], "Customer 1");
    assert_eq!(&first[3], "2024-01-01T01:00:00.000Z");
    assert_eq!(&first[4], r#"["t1"]"#);
    assert_eq!(&first[6], "customer1@example.com");
    // A missing field is an empty cell (id 10 has no email).
    let tenth = rows.iter().find(|r| &r[0] == "10").unwrap();
    assert_eq!(&tenth[6], "");
}

#[tokio::test]
async fn a_filter_that_is_not_json_is_refused() {
    let Some(env) = common::mongo() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut bad = TablePlan::new(coll_ref(&env.db, "orders"));
    bad.filter = Some("status = 'paid'".into());
    let summary = import(arc(&env), vec![bad], &dir.path().join("x"), Format::Jsonl).await;
    match &summary.tables[0].outcome {
        TableOutcome::Failed { error } => {
            assert!(error.to_string().contains("JSON query document"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cancelling_an_import_leaves_no_file() {
    let Some(env) = common::mongo() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cancelled.sqlite");
    let plan = ImportPlan {
        connection: "test-mongo".into(),
        kind: Kind::Mongodb,
        tables: vec![TablePlan::new(coll_ref(&env.db, "orders"))],
        destination: dest.clone(),
        format: Format::Sqlite,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_import(arc(&env), plan, tx, cancel.clone()));
    // Cancel once rows are flowing.
    while let Some(ev) = rx.recv().await {
        if matches!(ev, ImportEvent::Progress { rows, .. } if rows > 0) {
            cancel.cancel();
            break;
        }
    }
    let summary = task.await.unwrap();
    assert_eq!(summary.outcome(), ImportOutcome::Cancelled, "{summary:?}");
    assert!(!dest.exists(), "a cancelled import left {}", dest.display());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn exact_count_and_a_browse_session_never_write() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let orders_coll = c.database(&env.db).collection::<Document>("orders");
    let evidence = || async {
        let n = orders_coll.count_documents(doc! {}).await.unwrap();
        let idx = orders_coll.list_index_names().await.unwrap();
        (n, idx)
    };
    let before = evidence().await;
    let v = connector(&user_spec(&env), &env.password);
    let orders = coll_ref(&env.db, "orders");
    assert_eq!(v.count_rows(&orders).await.unwrap(), 5000);
    v.list_tables().await.unwrap();
    v.describe(&orders).await.unwrap();
    v.preview(&orders, 10).await.unwrap();
    assert_eq!(evidence().await, before);
}

/// No server needed: every host of a list refuses, and the error names each.
#[tokio::test]
async fn a_host_list_that_all_refuses_names_every_host_tried() {
    let (a, b) = (common::closed_port(), common::closed_port());
    let (mut spec, _) = ConnSpec::from_url(&format!(
        "mongodb://u@127.0.0.1:{a},127.0.0.1:{b}/db?replicaSet=rs0"
    ))
    .expect("parse");
    spec.connect_timeout_secs = 10;
    let started = Instant::now();
    let err = connector(&spec, "canary-host-list-pw")
        .test()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConnectionRefused, "{}", err.full());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for p in [a, b] {
        assert!(
            err.detail.contains(&format!("127.0.0.1:{p}")),
            "{}",
            err.detail
        );
    }
    assert!(!err.full().contains("canary-host-list-pw"));
}

/// A throwaway SecantusDB of this test's own (scripts/testdb/mongo.sh), stopped on drop.
struct OwnServer {
    env: ServerEnv,
    admin: (String, String),
    state: String,
}

impl OwnServer {
    fn script() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testdb/mongo.sh")
    }

    fn start() -> Option<OwnServer> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            common::skip(
                "stopping a MongoDB server mid-import needs root (scripts/testdb/mongo.sh)",
            );
            return None;
        }
        let out = std::process::Command::new("bash")
            .arg(Self::script())
            .arg("start")
            .stderr(std::process::Stdio::null())
            .output()
            .expect("run mongo.sh");
        if !out.status.success() {
            common::skip("scripts/testdb/mongo.sh could not start a server");
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export VARLOR_TEST_MONGO_{name}=")))
                .map(|v| v.replace('\\', ""))
                .unwrap_or_default()
        };
        Some(OwnServer {
            env: ServerEnv {
                host: get("HOST"),
                port: get("PORT").parse().expect("port"),
                user: get("USER"),
                password: get("PASSWORD"),
                db: get("DB"),
                ca: Some(get("CA").into()),
                tls_user: None,
                tls_password: None,
                socket: None,
            },
            admin: (get("ADMIN_USER"), get("ADMIN_PASSWORD")),
            state: get("STATE"),
        })
    }

    fn stop(&self) {
        let _ = std::process::Command::new("bash")
            .arg(Self::script())
            .arg("stop")
            .arg(&self.state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_import_fails_clearly_and_keeps_earlier_collections() {
    if common::mongo().is_none() {
        return; // no MongoDB testing here at all (skip notice printed)
    }
    let Some(server) = OwnServer::start() else {
        return;
    };
    let env = server.env.clone();
    // Seed a collection big enough to be mid-stream when the server goes.
    {
        let (user, pw) = server.admin.clone();
        let ca = env.ca.clone().unwrap();
        let mut o = mongodb::options::ClientOptions::parse(format!(
            "mongodb://{}:{}/?tls=true&tlsCAFile={}&directConnection=true",
            env.host,
            env.port,
            ca.display()
        ))
        .await
        .unwrap();
        o.credential = Some(
            mongodb::options::Credential::builder()
                .username(user)
                .password(pw)
                .source("admin".to_string())
                .build(),
        );
        let c = mongodb::Client::with_options(o).unwrap();
        let big = c.database(&env.db).collection::<Document>("big");
        for batch in 0..10 {
            let docs: Vec<Document> = (0..5000)
                .map(|i| doc! { "_id": batch * 5000 + i, "h": format!("{:032x}", i * 7919) })
                .collect();
            big.insert_many(docs).await.unwrap();
        }
    }
    let mut spec = user_spec(&env);
    spec.connect_timeout_secs = 3;
    let v: Arc<dyn Connector> = Arc::from(connector(&spec, &env.password));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("set.sqlite");
    let plan = ImportPlan {
        connection: "doomed".into(),
        kind: Kind::Mongodb,
        tables: ["customers", "big", "orders"]
            .iter()
            .map(|n| TablePlan::new(coll_ref(&env.db, n)))
            .collect(),
        destination: dest.clone(),
        format: Format::Sqlite,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let state = server.state.clone();
    let killer = tokio::spawn(async move {
        let mut stopped = false;
        while let Some(e) = rx.recv().await {
            if !stopped && matches!(e, ImportEvent::Progress { index: 1, .. }) {
                stopped = true;
                let state = state.clone();
                tokio::task::spawn_blocking(move || {
                    std::process::Command::new("bash")
                        .arg(OwnServer::script())
                        .arg("stop")
                        .arg(state)
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                })
                .await
                .expect("join")
                .expect("stop");
            }
        }
        stopped
    });
    let summary = run_import(v, plan, tx, CancellationToken::new()).await;
    assert!(killer.await.unwrap(), "the server was never stopped");
    assert_eq!(summary.tables[0].outcome, TableOutcome::Done);
    for t in &summary.tables[1..] {
        match &t.outcome {
            TableOutcome::Failed {
                error: varlor::dataset::ImportError::Source { error },
            } => {
                println!("{}: {}", t.table.display_name(), error.full());
                assert!(
                    matches!(
                        error.kind,
                        ErrorKind::ConnectionLost
                            | ErrorKind::ConnectionRefused
                            | ErrorKind::ConnectionTimeout
                    ),
                    "{}",
                    error.full()
                );
                assert!(!error.full().contains(&env.password));
            }
            other => panic!("{}: {other:?}", t.table.display_name()),
        }
    }
    assert_eq!(summary.outcome(), ImportOutcome::Partial);
    let db = rusqlite::Connection::open(&dest).unwrap();
    let n: i64 = db
        .query_row(
            &format!("SELECT count(*) FROM \"{}.customers\"", env.db),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1000);
    let others: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND (name LIKE '%.big' OR name LIKE '%.orders')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(others, 0);
}

// ------------------------------------------------------------ typed queries

/// Every row of a typed query, a page at a time.
async fn query_all(v: &dyn Connector, text: &str, page: usize) -> (Vec<String>, Vec<Vec<Cell>>) {
    let mut cur = v
        .query(text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {}", e.full()));
    let cols = cur.columns().iter().map(|c| c.name.clone()).collect();
    let mut rows = Vec::new();
    loop {
        let p = cur.next_page(page).await.unwrap();
        let n = p.len();
        rows.extend(p);
        if n < page {
            break;
        }
    }
    assert!(cur.is_done());
    (cols, rows)
}

/// 1,200 documents `{_id: i, n: i % 7, tag: "t{i%3}"}`; from 600 on they
/// also carry `late` (a field the first page never saw).
fn query_docs() -> Vec<Document> {
    (0..1200)
        .map(|i: i32| {
            let mut d = doc! { "_id": i, "n": i % 7, "tag": format!("t{}", i % 3) };
            if i >= 600 {
                d.insert("late", doc! { "i": i });
            }
            d
        })
        .collect()
}

#[tokio::test]
async fn typed_find_and_aggregate_stream_their_documents_into_pages() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let name = unique("typed_query");
    fresh(&c, &env.db, &name, query_docs()).await;
    let v = connector(&user_spec(&env), &env.password);

    // find with filter, projection, sort (two keys: order matters), skip, limit.
    let (cols, rows) = query_all(
        v.as_ref(),
        &format!(
            "db.{name}.find({{n: {{$gte: 5}}}}, {{tag: 1, n: 1}}).sort({{n: -1, _id: 1}}).skip(2).limit(300)"
        ),
        128,
    )
    .await;
    assert_eq!(cols, ["_id", "n", "tag"]);
    let mut expected: Vec<(i32, i32)> = (0..1200)
        .filter(|i| i % 7 >= 5)
        .map(|i| (i, i % 7))
        .collect();
    expected.sort_by_key(|(i, n)| (-n, *i));
    let expected: Vec<Vec<Cell>> = expected[2..302]
        .iter()
        .map(|(i, n)| {
            vec![
                Cell::Int(*i as i64),
                Cell::Int(*n as i64),
                Cell::Text(format!("t{}", i % 3)),
            ]
        })
        .collect();
    assert_eq!(rows, expected);

    // More than the first page: every document arrives; fields first seen
    // after the first page are kept in the last column, not lost.
    let (cols, rows) = query_all(
        v.as_ref(),
        &format!("db.getCollection(\"{name}\").find({{}})"),
        500,
    )
    .await;
    assert_eq!(cols.last().map(String::as_str), Some("…other fields"));
    assert_eq!(rows.len(), 1200);
    let (cols, _) = query_all(
        v.as_ref(),
        &format!("db.{name}.find({{}}).sort({{_id: -1}})"),
        500,
    )
    .await;
    assert_eq!(cols, ["_id", "n", "tag", "late", "…other fields"]);
    let (cols, rows) = query_all(
        v.as_ref(),
        &format!("db.{name}.find({{}}, {{late: 0}}).sort({{_id: -1}})"),
        500,
    )
    .await;
    assert_eq!(cols, ["_id", "n", "tag", "…other fields"]);
    assert_eq!(rows.len(), 1200);
    assert!(rows.iter().all(|r| r[3] == Cell::Null));
    let (_, rows) = query_all(
        v.as_ref(),
        &format!("db.{name}.find({{}}).sort({{_id: 1}})"),
        500,
    )
    .await;
    // Sorted by _id, the first 500 documents have no `late`: it comes later.
    assert_eq!(rows[0].len(), 4);
    assert_eq!(
        rows[700][3],
        Cell::Json(serde_json::json!({"late": {"i": 700}}))
    );

    // An aggregation, and one reading another collection ($lookup, $unionWith).
    let (cols, rows) = query_all(
        v.as_ref(),
        &format!(
            r#"db.{name}.aggregate([{{"$match": {{"n": {{"$lt": 3}}}}}}, {{"$group": {{"_id": "$tag", "c": {{"$sum": 1}}}}}}, {{"$sort": {{"_id": 1}}}}])"#
        ),
        500,
    )
    .await;
    assert_eq!(cols, ["_id", "c"]);
    let count = |t: i32| (0..1200).filter(|i| i % 7 < 3 && i % 3 == t).count() as i64;
    assert_eq!(
        rows,
        (0..3)
            .map(|t| vec![Cell::Text(format!("t{t}")), Cell::Int(count(t))])
            .collect::<Vec<_>>()
    );
    let (_, rows) = query_all(
        v.as_ref(),
        &format!(
            r#"db.{name}.aggregate([{{"$match": {{"_id": {{"$lt": 3}}}}}}, {{"$unionWith": {{"coll": "{name}", "pipeline": [{{"$match": {{"_id": 5}}}}]}}}}, {{"$project": {{"_id": 1}}}}])"#
        ),
        500,
    )
    .await;
    assert_eq!(rows.len(), 4);
    c.database(&env.db)
        .collection::<Document>(&name)
        .drop()
        .await
        .unwrap();
}

/// Count, a checksum of every document (canonical Extended JSON in `_id`
/// order) and the database's collection names.
async fn query_evidence(c: &mongodb::Client, db: &str, name: &str) -> (u64, u64, Vec<String>) {
    use std::hash::{Hash, Hasher};
    let coll = c.database(db).collection::<Document>(name);
    let n = coll.count_documents(doc! {}).await.unwrap();
    let docs = source_docs(c, db, name, doc! {}).await;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for d in &docs {
        canonical(d).hash(&mut h);
    }
    let mut names = c.database(db).list_collection_names().await.unwrap();
    names.sort();
    (n, h.finish(), names)
}

#[tokio::test]
async fn typed_writes_and_out_or_merge_anywhere_are_refused_and_change_nothing() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let name = unique("typed_refuse");
    let target = unique("typed_refuse_copy");
    fresh(&c, &env.db, &name, query_docs()).await;
    let before = query_evidence(&c, &env.db, &name).await;
    // As the admin too: a refusal must not depend on the user's privileges.
    for v in [
        connector(&user_spec(&env), &env.password),
        admin_connector(&env),
    ] {
        let db = format!("db.getSiblingDB(\"{}\")", env.db);
        for text in [
            format!(r#"{db}.{name}.aggregate([{{"$match": {{}}}}, {{"$out": "{target}"}}])"#),
            format!(r#"{db}.{name}.aggregate([{{"$merge": {{"into": "{target}"}}}}])"#),
            format!(r#"{db}.{name}.aggregate([{{"$facet": {{"a": [{{"$out": "{target}"}}]}}}}])"#),
            format!(
                r#"{db}.{name}.aggregate([{{"$lookup": {{"from": "{name}", "pipeline": [{{"$merge": "{target}"}}], "as": "x"}}}}])"#
            ),
            format!(
                r#"{db}.{name}.aggregate([{{"$unionWith": {{"coll": "{name}", "pipeline": [{{"$out": "{target}"}}]}}}}])"#
            ),
            format!("{db}.{name}.insertOne({{a: 1}})"),
            format!("{db}.{name}.deleteMany({{}})"),
            format!("{db}.{name}.updateMany({{}}, {{$set: {{n: 0}}}})"),
            format!("{db}.{name}.drop()"),
            format!("{db}.runCommand({{drop: \"{name}\"}})"),
            format!("{db}.{name}.find({{}}); {db}.{name}.drop()"),
        ] {
            let e = match v.query(&text).await {
                Ok(_) => panic!("{text}: was run"),
                Err(e) => e,
            };
            assert!(
                e.detail.contains("refused") || e.detail.contains("one statement"),
                "{text}: {}",
                e.full()
            );
        }
    }
    assert_eq!(query_evidence(&c, &env.db, &name).await, before);
    assert!(!before.2.contains(&target));
    c.database(&env.db)
        .collection::<Document>(&name)
        .drop()
        .await
        .unwrap();
}

/// The server's idle cursors on one namespace (`currentOp` as the admin).
async fn open_cursors(c: &mongodb::Client, ns: &str) -> usize {
    let r = c
        .database("admin")
        .run_command(doc! { "currentOp": 1, "idleCursors": true })
        .await
        .unwrap();
    r.get_array("inprog")
        .unwrap()
        .iter()
        .filter_map(|o| o.as_document())
        .filter(|o| o.get_str("type") == Ok("idleCursor") && o.get_str("ns") == Ok(ns))
        .count()
}

#[tokio::test]
async fn a_cancelled_typed_query_closes_its_server_cursor() {
    let Some(env) = common::mongo() else { return };
    let c = driver(&env).await;
    let name = unique("typed_cancel");
    fresh(&c, &env.db, &name, query_docs()).await;
    let ns = format!("{}.{name}", env.db);
    let v = connector(&user_spec(&env), &env.password);
    for text in [
        format!("db.{name}.find({{}})"),
        format!("db.{name}.aggregate([{{$match: {{}}}}])"),
    ] {
        let mut cur = v.query(&text).await.unwrap();
        assert_eq!(cur.next_page(10).await.unwrap().len(), 10);
        assert!(!cur.is_done());
        assert_eq!(open_cursors(&c, &ns).await, 1, "{text}: the result is open");
        // Cancel mid-fetch (the pane drops the task holding the cursor).
        let mid = tokio::time::timeout(Duration::from_millis(1), cur.next_page(1100)).await;
        assert!(mid.is_err() || !cur.is_done(), "{text}");
        let started = Instant::now();
        drop(cur);
        while open_cursors(&c, &ns).await > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{text}: the server cursor is still open"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The connection still answers after a cancel.
    let (_, rows) = query_all(v.as_ref(), &format!("db.{name}.find({{_id: 3}})"), 10).await;
    assert_eq!(rows.len(), 1);
    c.database(&env.db)
        .collection::<Document>(&name)
        .drop()
        .await
        .unwrap();
}

#[tokio::test]
async fn names_for_resolving_a_table_come_without_a_count_per_collection() {
    let Some(env) = common::mongo() else { return };
    let v = connector(&user_spec(&env), &env.password);
    let full = v.list_tables().await.unwrap();
    let names = v.list_table_names().await.unwrap();
    let key = |t: &TableRef| (t.schema.clone(), t.name.clone(), t.kind.label());
    let mut a: Vec<_> = full.iter().map(key).collect();
    let mut b: Vec<_> = names.iter().map(key).collect();
    a.sort();
    b.sort();
    // Tests run in parallel and make collections: compare the fixture's.
    let fixture = |v: &[(Option<String>, String, &'static str)]| -> Vec<_> {
        v.iter()
            .filter(|(_, n, _)| {
                matches!(
                    n.as_str(),
                    "orders" | "customers" | "Weird Name" | "sales.regions"
                )
            })
            .cloned()
            .collect()
    };
    assert_eq!(fixture(&a), fixture(&b));
    assert_eq!(fixture(&b).len(), 4);
    assert!(full
        .iter()
        .any(|t| t.name == "orders" && t.estimated_rows == Some(5000)));
    assert!(names.iter().all(|t| t.estimated_rows.is_none()));
}
