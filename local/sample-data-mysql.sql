-- Demo data for the local MariaDB target (database `demo`, selected by the loader). Loaded once, when
-- `npm start` creates the database.
CREATE TABLE IF NOT EXISTS customers (
  id         INT PRIMARY KEY,
  name       VARCHAR(100) NOT NULL,
  email      VARCHAR(200) NOT NULL UNIQUE,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS orders (
  id          INT PRIMARY KEY,
  customer_id INT NOT NULL,
  total_cents INT NOT NULL CHECK (total_cents >= 0),
  status      ENUM('placed', 'paid', 'shipped', 'refunded') NOT NULL,
  placed_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (customer_id) REFERENCES customers (id)
);

INSERT IGNORE INTO customers (id, name, email) VALUES
  (1, 'Ada Lovelace', 'ada@example.com'),
  (2, 'Grace Hopper', 'grace@example.com'),
  (3, 'Edsger Dijkstra', 'edsger@example.com');

INSERT IGNORE INTO orders (id, customer_id, total_cents, status) VALUES
  (101, 1, 4200, 'paid'),
  (102, 1, 1999, 'shipped'),
  (103, 2, 12500, 'placed'),
  (104, 3, 800, 'refunded');
