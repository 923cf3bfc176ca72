{{ config(materialized='table', order_by='customer_id', engine='MergeTree()') }}
select customer_id, count() as orders, sum(amount) as total_amount
from {{ ref('stg_orders') }}
group by customer_id
