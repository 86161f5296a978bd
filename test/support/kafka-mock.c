/* A librdkafka mock cluster (3 brokers) for tests: prints its bootstrap servers, then serves until
 * stdin closes or SIGTERM. Lines `topic <name> <partitions>` on stdin create a topic ("ok" back).
 *
 * Built with -DRTML_TRANSACTIONS (against the librdkafka the Kafka client bundles, statically, with
 * its internal headers), the cluster also acts as Kafka's transaction coordinator does where the
 * mock does not (see install_transactions below). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#ifdef RTML_TRANSACTIONS
#include "rdkafka_int.h"
#include "rdkafka_mock_int.h"
#else
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* Brokers set TCP_NODELAY on their connections (Kafka's socket server does); the mock cluster does
 * not, so small responses wait for Nagle and delayed ACKs (~40 ms). The launcher is linked with
 * -rdynamic, so librdkafka's accept() calls land here. */
int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  static int (*real_accept)(int, struct sockaddr *, socklen_t *);
  if (!real_accept) real_accept = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
  int s = real_accept(fd, addr, len);
  if (s >= 0) {
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return s;
}

#ifdef RTML_TRANSACTIONS
/* What librdkafka's mock cluster (2.15) leaves out of Kafka's transactions, added here:
 *
 * 1. InitProducerId of a new producer with a transactional id aborts that id's open transaction
 *    (abort markers, aborted ranges) and fences its earlier producers (their epoch is bumped, so
 *    their produce, AddPartitionsToTxn and EndTxn requests fail), as Kafka's coordinator does. The
 *    mock gives the new producer a fresh pid and leaves the old transaction open, so the next
 *    commit would make a crashed producer's records visible.
 * 2. Fetch with isolation.level=read_committed reads up to the last stable offset only and returns
 *    the aborted transactions, which the client skips; the mock answers every Fetch as
 *    read_uncommitted (it keeps the LSO and aborted ranges for share groups only).
 * 3. ListOffsets (latest) with read_committed answers the last stable offset, not the end.
 *
 * 4. Topics created here keep 1 GiB per partition (the mock drops a partition's oldest records
 *    past 5 MiB, which crash tests that write some outputs several times soon reach).
 *
 * Not done: transaction timeouts (an open transaction stays open until its id is initialised
 * again), offsets sent with sendOffsetsToTransaction (the mock acknowledges and drops them), and
 * OffsetFetch's require_stable. */

static int (*mock_InitProducerId)(rd_kafka_mock_connection_t *, rd_kafka_buf_t *);
static int (*mock_ListOffsets)(rd_kafka_mock_connection_t *, rd_kafka_buf_t *);

static rd_kafka_mock_partition_t *txn_partition(rd_kafka_mock_cluster_t *mcluster, const rd_kafka_mock_txn_partition_t *p) {
  rd_kafka_mock_topic_t *mtopic = rd_kafka_mock_topic_find(mcluster, p->topic_name);
  return mtopic ? rd_kafka_mock_partition_find(mtopic, p->partition) : NULL;
}

/* Aborts the open transaction of `id` and fences its producers (point 1). Holds mcluster->lock. */
static void abort_and_fence(rd_kafka_mock_cluster_t *mcluster, const rd_kafkap_str_t *id) {
  rd_kafka_mock_txn_t *mtxn;
  rd_kafka_mock_txn_partition_t *p;
  rd_kafka_mock_pid_t *mpid;
  int i;
  TAILQ_FOREACH(mtxn, &mcluster->transactions, link) {
    if (rd_kafkap_str_cmp_str(id, mtxn->transactional_id) || mtxn->state != RD_KAFKA_MOCK_TXN_ONGOING) continue;
    TAILQ_FOREACH(p, &mtxn->partitions, link) {
      rd_kafka_mock_partition_t *mpart = txn_partition(mcluster, p);
      rd_kafka_mock_aborted_txn_t *aborted;
      if (!mpart || p->first_offset < 0) continue;
      aborted = rd_calloc(1, sizeof(*aborted));
      aborted->pid_id = mtxn->pid.id;
      aborted->first_offset = p->first_offset;
      aborted->last_offset = mpart->end_offset - 1;
      rd_kafka_mock_partition_write_control_batch(mpart, mtxn->pid, rd_false);
      TAILQ_INSERT_TAIL(&mpart->aborted_txns, aborted, link);
    }
    mtxn->state = RD_KAFKA_MOCK_TXN_NONE;
    TAILQ_FOREACH(p, &mtxn->partitions, link) {
      rd_kafka_mock_partition_t *mpart = txn_partition(mcluster, p);
      if (mpart) rd_kafka_mock_partition_update_lso(mpart, mcluster);
    }
    rd_kafka_mock_txn_partitions_clear(mtxn);
    fprintf(stderr, "kafka mock: aborted the open transaction of %s\n", mtxn->transactional_id);
  }
  RD_LIST_FOREACH(mpid, &mcluster->pids, i) {
    if (!rd_kafkap_str_cmp_str(id, mpid->TransactionalId)) mpid->pid.epoch++;
  }
}

static int txn_InitProducerId(rd_kafka_mock_connection_t *mconn, rd_kafka_buf_t *rkbuf) {
  const rd_bool_t log_decode_errors = rd_true;
  rd_kafka_mock_cluster_t *mcluster = mconn->broker->cluster;
  rd_slice_t request = rkbuf->rkbuf_reader;
  rd_kafkap_str_t id;
  int32_t timeout;
  int64_t current = -1;
  rd_kafka_buf_read_str(rkbuf, &id);
  rd_kafka_buf_read_i32(rkbuf, &timeout);
  if (rkbuf->rkbuf_reqhdr.ApiVersion >= 3) rd_kafka_buf_read_i64(rkbuf, &current);
  /* A new producer (not an epoch bump of a live one, KIP-360). */
  if (!RD_KAFKAP_STR_IS_NULL(&id) && RD_KAFKAP_STR_LEN(&id) > 0 && current == -1) {
    mtx_lock(&mcluster->lock);
    abort_and_fence(mcluster, &id);
    mtx_unlock(&mcluster->lock);
  }
err_parse:
  rkbuf->rkbuf_reader = request;
  return mock_InitProducerId(mconn, rkbuf);
}

/* The aborted transactions of `mpart` that end at or after `from` (none when mpart is NULL). */
static void write_aborted(rd_kafka_buf_t *resp, rd_kafka_mock_partition_t *mpart, int64_t from) {
  rd_kafka_mock_aborted_txn_t *aborted;
  int n = 0;
  if (mpart) TAILQ_FOREACH(aborted, &mpart->aborted_txns, link) if (aborted->last_offset >= from) n++;
  rd_kafka_buf_write_arraycnt(resp, n);
  if (!mpart) return;
  TAILQ_FOREACH(aborted, &mpart->aborted_txns, link) {
    if (aborted->last_offset < from) continue;
    rd_kafka_buf_write_i64(resp, aborted->pid_id);
    rd_kafka_buf_write_i64(resp, aborted->first_offset);
    rd_kafka_buf_write_tags_empty(resp);
  }
}

/* The mock's reply tag writers (global in librdkafka, not declared in its headers). */
void rd_kafka_mock_Fetch_reply_tags_partition_write(rd_kafka_buf_t *rkbuf, int tagtype, rd_kafka_mock_partition_t *mpart);
void rd_kafka_mock_Fetch_reply_tags_write(rd_kafka_buf_t *rkbuf, int tagtype, rd_kafka_mock_broker_t **changed_leaders, int changed_leader_cnt);

/* librdkafka's rd_kafka_mock_handle_Fetch (rdkafka_mock_handlers.c, 2.15.1, BSD-2-Clause,
 * Copyright (c) 2019-2022 Magnus Edenhill, 2023 Confluent Inc.), with the three changes marked
 * "rtml change" (point 2). */
static int txn_Fetch(rd_kafka_mock_connection_t *mconn, rd_kafka_buf_t *rkbuf) {
        const rd_bool_t log_decode_errors = rd_true;
        rd_kafka_mock_cluster_t *mcluster = mconn->broker->cluster;
        rd_kafka_buf_t *resp = rd_kafka_mock_buf_new_response(rkbuf);
        rd_kafka_resp_err_t all_err;
        int32_t ReplicaId = -1, MaxWait, MinBytes, MaxBytes = -1,
                SessionId = -1, Epoch, TopicsCnt;
        int8_t IsolationLevel = 0;
        size_t totsize = 0;

        int32_t tags_to_write[1]   = {0};
        uint64_t tags_to_write_cnt = 0;

        int changed_leaders_cnt = 0;
        rd_kafka_mock_broker_t **changed_leaders =
            rd_calloc(mcluster->broker_cnt, sizeof(*changed_leaders));

        if (rkbuf->rkbuf_reqhdr.ApiVersion <= 14) {
                rd_kafka_buf_read_i32(rkbuf, &ReplicaId);
        }
        rd_kafka_buf_read_i32(rkbuf, &MaxWait);
        rd_kafka_buf_read_i32(rkbuf, &MinBytes);
        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 3)
                rd_kafka_buf_read_i32(rkbuf, &MaxBytes);
        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 4)
                rd_kafka_buf_read_i8(rkbuf, &IsolationLevel);
        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 7) {
                rd_kafka_buf_read_i32(rkbuf, &SessionId);
                rd_kafka_buf_read_i32(rkbuf, &Epoch);
        }

        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 1) {
                /* Response: ThrottleTime */
                rd_kafka_buf_write_i32(resp, 0);
        }


        /* Inject error, if any */
        all_err = rd_kafka_mock_next_request_error(mconn, resp);

        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 7) {
                /* Response: ErrorCode */
                rd_kafka_buf_write_i16(resp, all_err);

                /* Response: SessionId */
                rd_kafka_buf_write_i32(resp, SessionId);
        }

        rd_kafka_buf_read_arraycnt(rkbuf, &TopicsCnt, RD_KAFKAP_TOPICS_MAX);

        /* Response: #Topics */
        rd_kafka_buf_write_arraycnt(resp, TopicsCnt);

        while (TopicsCnt-- > 0) {
                rd_kafkap_str_t Topic   = RD_KAFKAP_STR_INITIALIZER;
                rd_kafka_Uuid_t TopicId = RD_KAFKA_UUID_ZERO;
                int32_t PartitionCnt;
                rd_kafka_mock_topic_t *mtopic;
                rd_bool_t find_topic_by_id = rd_true;

                if (rkbuf->rkbuf_reqhdr.ApiVersion <= 12) {
                        rd_kafka_buf_read_str(rkbuf, &Topic);
                        find_topic_by_id = rd_false;
                }

                if (rkbuf->rkbuf_reqhdr.ApiVersion >= 13) {
                        rd_kafka_buf_read_uuid(rkbuf, &TopicId);
                }

                rd_kafka_buf_read_arraycnt(rkbuf, &PartitionCnt,
                                           RD_KAFKAP_PARTITIONS_MAX);

                if (find_topic_by_id) {
                        mtopic =
                            rd_kafka_mock_topic_find_by_id(mcluster, TopicId);
                        /* Response: TopicId */
                        rd_kafka_buf_write_uuid(resp, &TopicId);
                } else {
                        mtopic =
                            rd_kafka_mock_topic_find_by_kstr(mcluster, &Topic);
                        /* Response: Topic */
                        rd_kafka_buf_write_kstr(resp, &Topic);
                }

                /* Response: #Partitions */
                rd_kafka_buf_write_arraycnt(resp, PartitionCnt);

                while (PartitionCnt-- > 0) {
                        int32_t Partition, CurrentLeaderEpoch = -1,
                                           LastFetchedEpoch = -1, PartMaxBytes;
                        int64_t FetchOffset, LogStartOffset;
                        rd_kafka_mock_partition_t *mpart = NULL;
                        rd_kafka_resp_err_t err          = all_err;
                        rd_bool_t on_follower;
                        size_t partsize                      = 0;
                        const rd_kafka_mock_msgset_t *mset   = NULL;
                        int32_t partition_tags_to_write[1]   = {0};
                        uint64_t partition_tags_to_write_cnt = 0;

                        rd_kafka_buf_read_i32(rkbuf, &Partition);

                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 9)
                                rd_kafka_buf_read_i32(rkbuf,
                                                      &CurrentLeaderEpoch);

                        rd_kafka_buf_read_i64(rkbuf, &FetchOffset);

                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 12)
                                rd_kafka_buf_read_i32(rkbuf, &LastFetchedEpoch);

                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 5)
                                rd_kafka_buf_read_i64(rkbuf, &LogStartOffset);

                        rd_kafka_buf_read_i32(rkbuf, &PartMaxBytes);

                        /* Partition tags */
                        rd_kafka_buf_skip_tags(rkbuf);

                        if (mtopic)
                                mpart = rd_kafka_mock_partition_find(mtopic,
                                                                     Partition);
                        else if (find_topic_by_id)
                                err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_ID;

                        /* Response: Partition */
                        rd_kafka_buf_write_i32(resp, Partition);

                        /* Fetch is directed at follower and this is
                         * the follower broker. */
                        on_follower =
                            mpart && mpart->follower_id == mconn->broker->id;

                        if (!err) {
                                if (!all_err && !mpart)
                                        err =
                                            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
                                else if (!all_err &&
                                         mpart->leader != mconn->broker &&
                                         !on_follower)
                                        err =
                                            RD_KAFKA_RESP_ERR_NOT_LEADER_OR_FOLLOWER;
                        }

                        if (!err && mpart)
                                err =
                                    rd_kafka_mock_partition_leader_epoch_check(
                                        mpart, CurrentLeaderEpoch);

                        if (!err && mpart)
                                err =
                                    rd_kafka_mock_partition_next_request_error(
                                        mpart, rkbuf->rkbuf_reqhdr.ApiKey);

                        /* Find MessageSet for FetchOffset: read_committed
                         * reads up to the LSO only (rtml change). */
                        if (!err && IsolationLevel == 1 &&
                            FetchOffset >= mpart->lso &&
                            FetchOffset <= mpart->end_offset) {
                                /* Nothing stable there yet. */
                        } else if (!err && FetchOffset != mpart->end_offset) {
                                /* Kafka currently only returns
                                 * OFFSET_NOT_AVAILABLE
                                 * in ListOffsets calls */
                                if (!(mset = rd_kafka_mock_msgset_find(
                                          mpart, FetchOffset, on_follower)))
                                        err =
                                            RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE;
                                rd_kafka_dbg(
                                    mcluster->rk, MOCK, "MOCK",
                                    "Topic %.*s [%" PRId32
                                    "] fetch err %s for offset %" PRId64
                                    " mset %p, on_follower %d, "
                                    "start %" PRId64 ", end_offset %" PRId64
                                    ", current epoch %" PRId32,
                                    RD_KAFKAP_STR_PR(&Topic), Partition,
                                    rd_kafka_err2name(err), FetchOffset, mset,
                                    on_follower, mpart->start_offset,
                                    mpart->end_offset, mpart->leader_epoch);
                        }


                        /* Response: ErrorCode */
                        rd_kafka_buf_write_i16(resp, err);

                        /* Response: Highwatermark */
                        rd_kafka_buf_write_i64(
                            resp,
                            mpart ? (on_follower ? mpart->follower_end_offset
                                                 : mpart->end_offset)
                                  : -1);

                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 4) {
                                /* Response: LastStableOffset (rtml change) */
                                rd_kafka_buf_write_i64(
                                    resp, mpart ? mpart->lso : -1);
                        }

                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 5) {
                                /* Response: LogStartOffset */
                                rd_kafka_buf_write_i64(
                                    resp,
                                    !mpart ? -1
                                           : (on_follower
                                                  ? mpart->follower_start_offset
                                                  : mpart->start_offset));
                        }

                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 4) {
                                /* Response: #Aborted (rtml change): the aborted
                                 * transactions from FetchOffset on, which a
                                 * read_committed client skips. */
                                write_aborted(resp, IsolationLevel == 1 && mset ? mpart : NULL, FetchOffset);
                        }


                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 11) {
                                int32_t PreferredReadReplica =
                                    mpart && mpart->leader == mconn->broker &&
                                            mpart->follower_id != -1
                                        ? mpart->follower_id
                                        : -1;

                                /* Response: PreferredReplica */
                                rd_kafka_buf_write_i32(resp,
                                                       PreferredReadReplica);

                                if (PreferredReadReplica != -1) {
                                        /* Don't return any data when
                                         * PreferredReadReplica is set */
                                        mset    = NULL;
                                        MaxWait = 0;
                                }
                        }


                        if (mset && partsize < (size_t)PartMaxBytes &&
                            totsize < (size_t)MaxBytes) {
                                /* Response: Records */
                                size_t written = rd_kafka_buf_write_kbytes(
                                    resp, &mset->bytes);
                                partsize += written;
                                totsize += written;

                                /* FIXME: Multiple messageSets ? */
                        } else {
                                /* Empty Response: Records: Null */
                                rd_kafka_buf_write_arraycnt(resp, 0);
                        }

                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 12 &&
                            err == RD_KAFKA_RESP_ERR_NOT_LEADER_OR_FOLLOWER) {
                                int changed_leader_idx;
                                for (changed_leader_idx = 0;
                                     changed_leader_idx < changed_leaders_cnt;
                                     changed_leader_idx++) {
                                        if (changed_leaders[changed_leader_idx]
                                                ->id == mpart->leader->id)
                                                break;
                                }
                                if (changed_leader_idx == changed_leaders_cnt) {
                                        changed_leaders[changed_leaders_cnt] =
                                            mpart->leader;
                                        changed_leaders_cnt++;
                                }
                                /* CurrentLeader */
                                partition_tags_to_write
                                    [partition_tags_to_write_cnt] = 1;
                                partition_tags_to_write_cnt++;
                        }

                        /* Response: Partition tags */
                        rd_kafka_buf_write_tags(
                            resp,
                            rd_kafka_mock_Fetch_reply_tags_partition_write,
                            partition_tags_to_write,
                            partition_tags_to_write_cnt, mpart);
                }

                /* Topic tags */
                rd_kafka_buf_skip_tags(rkbuf);
                /* Response: Topic tags */
                rd_kafka_buf_write_tags_empty(resp);
        }

        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 7) {
                int32_t ForgottenTopicCnt;
                rd_kafka_buf_read_arraycnt(rkbuf, &ForgottenTopicCnt,
                                           RD_KAFKAP_TOPICS_MAX);
                while (ForgottenTopicCnt-- > 0) {
                        rd_kafkap_str_t Topic   = RD_KAFKAP_STR_INITIALIZER;
                        rd_kafka_Uuid_t TopicId = RD_KAFKA_UUID_ZERO;
                        int32_t ForgPartCnt;
                        if (rkbuf->rkbuf_reqhdr.ApiVersion <= 12) {
                                rd_kafka_buf_read_str(rkbuf, &Topic);
                        }
                        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 13) {
                                rd_kafka_buf_read_uuid(rkbuf, &TopicId);
                        }
                        rd_kafka_buf_read_arraycnt(rkbuf, &ForgPartCnt,
                                                   RD_KAFKAP_PARTITIONS_MAX);
                        while (ForgPartCnt-- > 0) {
                                int32_t Partition;
                                rd_kafka_buf_read_i32(rkbuf, &Partition);
                        }

                        /* ForgottenTopic tags */
                        rd_kafka_buf_skip_tags(rkbuf);
                }
        }

        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 11) {
                rd_kafkap_str_t RackId;
                char *rack;
                rd_kafka_buf_read_str(rkbuf, &RackId);
                RD_KAFKAP_STR_DUPA(&rack, &RackId);
                /* Matt might do something sensible with this */
        }

        if (rkbuf->rkbuf_reqhdr.ApiVersion >= 16 && changed_leaders_cnt) {
                tags_to_write[tags_to_write_cnt] = 0 /* NodeEndpoints */;
                tags_to_write_cnt++;
        }

        /* Response: Top level tags */
        rd_kafka_buf_write_tags(resp, rd_kafka_mock_Fetch_reply_tags_write,
                                tags_to_write, tags_to_write_cnt,
                                changed_leaders, changed_leaders_cnt);

        /* If there was no data, delay up to MaxWait.
         * This isn't strictly correct since we should cut the wait short
         * and feed newly produced data if a producer writes to the
         * partitions, but that is too much of a hassle here since we
         * can't block the thread. */
        if (!totsize && MaxWait > 0)
                resp->rkbuf_ts_retry = rd_clock() + (MaxWait * 1000);

        rd_kafka_mock_connection_send_response0(mconn, resp, rd_true);
        rd_free(changed_leaders);
        return 0;

err_parse:
        rd_kafka_buf_destroy(resp);
        rd_free(changed_leaders);
        return -1;
}


/* Point 3: with read_committed, every partition's end is its LSO while the mock answers. */
static int txn_ListOffsets(rd_kafka_mock_connection_t *mconn, rd_kafka_buf_t *rkbuf) {
  const rd_bool_t log_decode_errors = rd_true;
  rd_kafka_mock_cluster_t *mcluster = mconn->broker->cluster;
  rd_slice_t request = rkbuf->rkbuf_reader;
  int32_t replica;
  int8_t isolation = 0;
  rd_kafka_mock_topic_t *mtopic;
  int i, ret;
  rd_kafka_buf_read_i32(rkbuf, &replica);
  if (rkbuf->rkbuf_reqhdr.ApiVersion >= 2) rd_kafka_buf_read_i8(rkbuf, &isolation);
err_parse:
  rkbuf->rkbuf_reader = request;
  if (isolation != 1) return mock_ListOffsets(mconn, rkbuf);
  TAILQ_FOREACH(mtopic, &mcluster->topics, link) {
    for (i = 0; i < mtopic->partition_cnt; i++) {
      rd_kafka_mock_partition_t *mpart = &mtopic->partitions[i];
      int64_t end = mpart->end_offset;
      mpart->end_offset = mpart->lso;
      mpart->lso = end; /* kept here meanwhile */
    }
  }
  ret = mock_ListOffsets(mconn, rkbuf);
  TAILQ_FOREACH(mtopic, &mcluster->topics, link) {
    for (i = 0; i < mtopic->partition_cnt; i++) {
      rd_kafka_mock_partition_t *mpart = &mtopic->partitions[i];
      int64_t lso = mpart->end_offset;
      mpart->end_offset = mpart->lso;
      mpart->lso = lso;
    }
  }
  return ret;
}

/* Point 4. */
static void keep_more(rd_kafka_mock_cluster_t *mcluster, const char *name) {
  rd_kafka_mock_topic_t *mtopic;
  int i;
  mtx_lock(&mcluster->lock);
  mtopic = rd_kafka_mock_topic_find(mcluster, name);
  if (mtopic) for (i = 0; i < mtopic->partition_cnt; i++) mtopic->partitions[i].max_size = (size_t)1 << 30;
  mtx_unlock(&mcluster->lock);
}

static void install_transactions(rd_kafka_mock_cluster_t *mcluster) {
  mock_InitProducerId = mcluster->api_handlers[RD_KAFKAP_InitProducerId].cb;
  mcluster->api_handlers[RD_KAFKAP_InitProducerId].cb = txn_InitProducerId;
  mcluster->api_handlers[RD_KAFKAP_Fetch].cb = txn_Fetch;
  mock_ListOffsets = mcluster->api_handlers[RD_KAFKAP_ListOffsets].cb;
  mcluster->api_handlers[RD_KAFKAP_ListOffsets].cb = txn_ListOffsets;
}
#endif

int main(void) {
  char err[512], line[512], name[256];
  int partitions;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) { fprintf(stderr, "rd_kafka_new: %s\n", err); return 1; }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, 3);
  if (!mcluster) { fprintf(stderr, "rd_kafka_mock_cluster_new failed\n"); return 1; }
#ifdef RTML_TRANSACTIONS
  install_transactions(mcluster);
#endif
  signal(SIGPIPE, SIG_IGN);
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);
  while (fgets(line, sizeof(line), stdin)) {
    if (sscanf(line, "topic %255s %d", name, &partitions) == 2) {
      rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mcluster, name, partitions, 1);
#ifdef RTML_TRANSACTIONS
      if (!e) keep_more(mcluster, name);
#endif
      printf(e ? "error %s\n" : "ok\n", rd_kafka_err2str(e));
      fflush(stdout);
    }
  }
  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
