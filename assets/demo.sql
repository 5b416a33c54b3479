-- Varlor demo database: a small shop. Built once into <data dir>/demo.sqlite.
-- Rows are generated deterministically so every install shows the same data.
PRAGMA foreign_keys = ON;

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    email       TEXT    UNIQUE,
    country     TEXT    NOT NULL,
    signed_up   DATE    NOT NULL,
    phone       TEXT,                      -- NULL for about a third of customers
    credit      REAL    NOT NULL DEFAULT 0
);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    sku         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    price       REAL    NOT NULL CHECK (price >= 0),
    weight_kg   REAL,                      -- NULL for digital goods
    thumbnail   BLOB                       -- a few bytes of fake image data
);

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    ordered_at  DATE    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    shipped_at  DATE                       -- NULL until shipped
);

CREATE TABLE order_items (
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line        INTEGER NOT NULL,
    product_id  INTEGER NOT NULL REFERENCES products(id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_price  REAL    NOT NULL,
    PRIMARY KEY (order_id, line)
);

-- A table whose name needs quoting in every dialect (space, accents, symbol).
CREATE TABLE "Order Notes ✓" (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    "written by" TEXT   NOT NULL,
    note        TEXT    NOT NULL,
    written_at  DATE    NOT NULL
);

CREATE INDEX orders_by_customer ON orders(customer_id);
CREATE INDEX order_items_by_product ON order_items(product_id);

-- Building blocks for the generated rows.
CREATE TEMP TABLE first_names(idx INTEGER PRIMARY KEY, v TEXT);
INSERT INTO first_names(v) VALUES ('Ada'),('Björn'),('Chiara'),('Dmitri'),('Elif'),('Farah'),
    ('Gustavo'),('Hana'),('Ines'),('Jonas'),('Kwame'),('Lena'),('Mateo'),('Noor'),('Olga'),
    ('Priya'),('Quentin'),('Rosa'),('Sven'),('Tomás'),('Uma'),('Viktor'),('Wen'),('Yusuf'),('Zoë');
CREATE TEMP TABLE last_names(idx INTEGER PRIMARY KEY, v TEXT);
INSERT INTO last_names(v) VALUES ('Andersson'),('Bianchi'),('Costa'),('Dubois'),('Eriksen'),
    ('Fischer'),('García'),('Haddad'),('Ivanova'),('Jensen'),('Kowalski'),('López'),('Müller'),
    ('Nakamura'),('O''Brien'),('Petrov'),('Rossi'),('Schmidt'),('Tanaka'),('Novák');
CREATE TEMP TABLE countries(idx INTEGER PRIMARY KEY, v TEXT);
INSERT INTO countries(v) VALUES ('DE'),('FR'),('IT'),('ES'),('SE'),('PL'),('JP'),('BR'),('US'),('GB'),('IN'),('NG');
CREATE TEMP TABLE categories(idx INTEGER PRIMARY KEY, v TEXT, digital INTEGER);
INSERT INTO categories(v, digital) VALUES ('Books',0),('Coffee',0),('Tools',0),('Garden',0),
    ('Games',1),('Music',1),('Kitchen',0),('Outdoor',0);
CREATE TEMP TABLE adjectives(idx INTEGER PRIMARY KEY, v TEXT);
INSERT INTO adjectives(v) VALUES ('Classic'),('Compact'),('Deluxe'),('Everyday'),('Heavy-duty'),
    ('Organic'),('Pocket'),('Vintage'),('Wireless'),('Modular');

-- 500 customers
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO customers (id, name, email, country, signed_up, phone, credit)
SELECT i,
       (SELECT v FROM first_names WHERE first_names.idx = 1 + (i * 7) % 25) || ' ' ||
       (SELECT v FROM last_names WHERE last_names.idx = 1 + (i * 13) % 20),
       CASE WHEN i % 17 = 0 THEN NULL ELSE 'customer' || i || '@example.com' END,
       (SELECT v FROM countries WHERE countries.idx = 1 + (i * 5) % 12),
       date('2021-01-01', '+' || ((i * 37) % 1400) || ' days'),
       CASE WHEN i % 3 = 0 THEN NULL ELSE '+1-555-' || printf('%04d', (i * 7919) % 10000) END,
       round(((i * 97) % 50000) / 100.0, 2)
FROM n;

-- 120 products
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
INSERT INTO products (id, sku, name, category, price, weight_kg, thumbnail)
SELECT i,
       'SKU-' || printf('%05d', i * 31),
       (SELECT v FROM adjectives WHERE adjectives.idx = 1 + (i * 3) % 10) || ' ' ||
       (SELECT v FROM categories WHERE categories.idx = 1 + i % 8) || ' item #' || i,
       (SELECT v FROM categories WHERE categories.idx = 1 + i % 8),
       round(2.5 + ((i * 7919) % 20000) / 100.0, 2),
       CASE WHEN (SELECT digital FROM categories WHERE categories.idx = 1 + i % 8) = 1 THEN NULL
            ELSE round(0.1 + ((i * 131) % 500) / 100.0, 2) END,
       CASE WHEN i % 4 = 0 THEN NULL
            ELSE unhex('89504E470D0A1A0A' || printf('%08X', (i * 2654435761) % 4294967296)) END
FROM n;

-- 2000 orders
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO orders (id, customer_id, ordered_at, status, shipped_at)
SELECT i,
       1 + (i * 7477) % 500,
       date('2023-01-01', '+' || ((i * 53) % 700) || ' days'),
       CASE (i * 11) % 10 WHEN 0 THEN 'pending' WHEN 1 THEN 'cancelled'
                          WHEN 2 THEN 'paid' WHEN 3 THEN 'paid' ELSE 'shipped' END,
       NULL
FROM n;
UPDATE orders SET shipped_at = date(ordered_at, '+' || (1 + id % 9) || ' days')
WHERE status = 'shipped';

-- 1 to 4 lines per order (about 5000 rows)
WITH RECURSIVE line(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM line WHERE n < 4)
INSERT INTO order_items (order_id, line, product_id, quantity, unit_price)
SELECT o.id, line.n, p.id, 1 + (o.id * line.n) % 5, p.price
FROM orders o
JOIN line ON line.n <= 1 + (o.id * 3) % 4
JOIN products p ON p.id = 1 + (o.id * 17 + line.n * 29) % 120;

-- Notes on some orders
INSERT INTO "Order Notes ✓" (order_id, "written by", note, written_at)
SELECT id,
       CASE id % 3 WHEN 0 THEN 'support' WHEN 1 THEN 'warehouse' ELSE 'customer' END,
       CASE id % 5 WHEN 0 THEN 'Leave the parcel with the neighbour.'
                   WHEN 1 THEN 'Gift wrap, please — it''s a birthday present 🎁'
                   WHEN 2 THEN 'Customer called about the delivery date.'
                   WHEN 3 THEN 'Damaged box; replacement sent.'
                   ELSE 'Invoice to the company address.' END,
       date(ordered_at, '+1 day')
FROM orders WHERE id % 7 = 0;

CREATE VIEW order_totals AS
SELECT o.id AS order_id,
       c.name AS customer,
       o.ordered_at,
       o.status,
       COUNT(oi.line) AS lines,
       round(SUM(oi.quantity * oi.unit_price), 2) AS total
FROM orders o
JOIN customers c ON c.id = o.customer_id
JOIN order_items oi ON oi.order_id = o.id
GROUP BY o.id;

CREATE VIEW revenue_by_month AS
SELECT strftime('%Y-%m', o.ordered_at) AS month,
       COUNT(DISTINCT o.id) AS orders,
       round(SUM(oi.quantity * oi.unit_price), 2) AS revenue
FROM orders o
JOIN order_items oi ON oi.order_id = o.id
WHERE o.status <> 'cancelled'
GROUP BY month;

DROP TABLE temp.first_names;
DROP TABLE temp.last_names;
DROP TABLE temp.countries;
DROP TABLE temp.categories;
DROP TABLE temp.adjectives;
