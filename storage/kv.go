package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// KV is a small persistent key/value namespace (a bucket) stored in the
// log's Badger. Writes go through the log's writer, so they share its group
// commits and, in fsync mode, are synced before returning. Safe for
// concurrent use.
type KV struct {
	l      *Log
	prefix []byte
}

// KV returns the bucket's namespace. Buckets need no creation.
func (l *Log) KV(bucket string) *KV {
	p := binary.AppendUvarint([]byte{nsKV}, uint64(len(bucket)))
	return &KV{l: l, prefix: append(p, bucket...)}
}

func (kv *KV) key(k string) []byte {
	return append(append(make([]byte, 0, len(kv.prefix)+len(k)), kv.prefix...), k...)
}

// Put stores value under key.
func (kv *KV) Put(key string, value []byte) error {
	return kv.write(op{key: kv.key(key), val: append([]byte(nil), value...)})
}

// Delete removes key; deleting a missing key is not an error.
func (kv *KV) Delete(key string) error {
	return kv.write(op{key: kv.key(key), del: true})
}

func (kv *KV) write(o op) error {
	req := &request{ops: []op{o}, sync: true, done: newDone()}
	req.add(o.key, o.val, kv.l.prof.valueThreshold)
	if err := kv.l.submit(context.Background(), req); err != nil {
		return fmt.Errorf("kv %q: %w", o.key[len(kv.prefix):], err)
	}
	return nil
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (kv *KV) Get(key string) ([]byte, error) {
	var v []byte
	err := kv.l.view(func(txn *badger.Txn) error {
		it, err := txn.Get(kv.key(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("kv %q: %w", key, ErrNotFound)
		}
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
	return v, err
}

// Keys returns the keys that start with prefix, in ascending order. It
// reads no values: Badger seeks to the prefix and stops after it, so the
// cost follows the keys returned, not the bucket's size.
func (kv *KV) Keys(prefix string) ([]string, error) {
	var keys []string
	err := kv.l.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: kv.key(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, string(it.Item().Key()[len(kv.prefix):]))
		}
		return nil
	})
	return keys, err
}

// Scan calls fn for every key in ascending order with a value fn may keep.
// The pairs come from one consistent snapshot, read before fn is first called
// (buckets are small), so fn may write to the bucket. An error from fn stops
// the scan and is returned.
func (kv *KV) Scan(fn func(key string, value []byte) error) error {
	type pair struct {
		k string
		v []byte
	}
	var pairs []pair
	err := kv.l.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: kv.prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			pairs = append(pairs, pair{string(it.Item().Key()[len(kv.prefix):]), v})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if err := fn(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}
