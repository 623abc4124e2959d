-- Demo data for the local PostgreSQL target (database `demo`). Loaded once by `npm start`; safe to re-run.
CREATE TABLE IF NOT EXISTS public.customers (
  id         integer PRIMARY KEY,
  name       text NOT NULL,
  email      text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.orders (
  id          integer PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES public.customers (id),
  total_cents integer NOT NULL CHECK (total_cents >= 0),
  status      text NOT NULL CHECK (status IN ('placed', 'paid', 'shipped', 'refunded')),
  placed_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO public.customers (id, name, email) VALUES
  (1, 'Ada Lovelace', 'ada@example.com'),
  (2, 'Grace Hopper', 'grace@example.com'),
  (3, 'Edsger Dijkstra', 'edsger@example.com')
ON CONFLICT (id) DO NOTHING;

INSERT INTO public.orders (id, customer_id, total_cents, status) VALUES
  (101, 1, 4200, 'paid'),
  (102, 1, 1999, 'shipped'),
  (103, 2, 12500, 'placed'),
  (104, 3, 800, 'refunded')
ON CONFLICT (id) DO NOTHING;
