/** A small card-transaction Avro schema shared by engine tests. */
export const txnSchema = {
  type: 'record',
  name: 'Txn',
  fields: [
    { name: 'card_id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'ts', type: 'long' },
  ],
};
