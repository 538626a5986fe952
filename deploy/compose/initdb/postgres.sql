-- A table for ficus to capture in the compose trial (runs once, on an empty volume).
CREATE TABLE public.orders (
    id          bigserial PRIMARY KEY,
    customer_id integer NOT NULL,
    amount      numeric(12,2) NOT NULL,
    status      text NOT NULL DEFAULT 'new',
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.orders (customer_id, amount, status) VALUES
    (1, 19.90, 'paid'),
    (2, 5.00, 'new'),
    (1, 102.35, 'shipped');
