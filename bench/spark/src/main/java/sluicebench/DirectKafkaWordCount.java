/*
 * Spark side of bench/vs_spark.sh: Spark's DirectKafkaWordCount example
 * (split, pair, reduceByKey) with, as its per-batch action, the counts
 * written to an output topic (foreachRDD -> foreachPartition -> a Kafka
 * producer), on local[2]. It stops itself once the batches have taken
 * TOTAL records, and prints one "batch" line per batch and a "result" line:
 *
 *   batch <time ms> records <n> sched <ms> proc <ms> end <epoch ms>
 *   result records <n> seconds <s> records/s <r> first-batch-ms <ms>
 *
 * records/s = TOTAL / (end of the batch that took the last record - time of
 * the first batch with records), as bench/vs_spark.sh computes it for
 * Sluice; first-batch-ms = end of the first batch with records - JVM start.
 *
 * Usage: DirectKafkaWordCount BROKERS TOPIC OUT_TOPIC GROUP TOTAL INTERVAL_MS
 *        MAX_RATE_PER_PARTITION
 */
package sluicebench;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.SparkConf;
import org.apache.spark.streaming.Durations;
import org.apache.spark.streaming.api.java.JavaDStream;
import org.apache.spark.streaming.api.java.JavaInputDStream;
import org.apache.spark.streaming.api.java.JavaPairDStream;
import org.apache.spark.streaming.api.java.JavaStreamingContext;
import org.apache.spark.streaming.kafka010.ConsumerStrategies;
import org.apache.spark.streaming.kafka010.KafkaUtils;
import org.apache.spark.streaming.kafka010.LocationStrategies;
import org.apache.spark.streaming.scheduler.BatchInfo;
import org.apache.spark.streaming.scheduler.StreamingListener;
import org.apache.spark.streaming.scheduler.StreamingListenerBatchCompleted;

import scala.Tuple2;

public final class DirectKafkaWordCount {
    private static final Pattern SPACE = Pattern.compile(" ");

    public static void main(String[] args) throws Exception {
        if (args.length != 7) {
            System.err.println("usage: DirectKafkaWordCount BROKERS TOPIC OUT_TOPIC GROUP TOTAL "
                               + "INTERVAL_MS MAX_RATE_PER_PARTITION");
            System.exit(2);
        }
        final String brokers = args[0], topic = args[1], out = args[2], group = args[3];
        final long total = Long.parseLong(args[4]);
        SparkConf conf = new SparkConf()
                .setAppName("DirectKafkaWordCount")
                .setMaster("local[2]")
                .set("spark.ui.enabled", "false")
                .set("spark.streaming.kafka.maxRatePerPartition", args[6]);
        JavaStreamingContext jssc =
                new JavaStreamingContext(conf, Durations.milliseconds(Long.parseLong(args[5])));
        jssc.sparkContext().setLogLevel("WARN");

        Map<String, Object> kafkaParams = new HashMap<>();
        kafkaParams.put("bootstrap.servers", brokers);
        kafkaParams.put("group.id", group);
        kafkaParams.put("key.deserializer", StringDeserializer.class);
        kafkaParams.put("value.deserializer", StringDeserializer.class);
        kafkaParams.put("auto.offset.reset", "earliest");
        kafkaParams.put("enable.auto.commit", false);

        JavaInputDStream<ConsumerRecord<String, String>> messages = KafkaUtils.createDirectStream(
                jssc, LocationStrategies.PreferConsistent(),
                ConsumerStrategies.<String, String>Subscribe(Arrays.asList(topic), kafkaParams));
        JavaDStream<String> lines = messages.map(ConsumerRecord::value);
        JavaDStream<String> words = lines.flatMap(x -> Arrays.asList(SPACE.split(x)).iterator());
        JavaPairDStream<String, Integer> wordCounts =
                words.mapToPair(s -> new Tuple2<>(s, 1)).reduceByKey(Integer::sum);
        wordCounts.foreachRDD(rdd -> rdd.foreachPartition(it -> {
            Properties p = new Properties();
            p.put("bootstrap.servers", brokers);
            p.put("key.serializer", StringSerializer.class.getName());
            p.put("value.serializer", StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                while (it.hasNext()) {
                    Tuple2<String, Integer> wc = it.next();
                    producer.send(new ProducerRecord<>(out, wc._1(), wc._2().toString()));
                }
            }
        }));

        final long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
        final AtomicLong taken = new AtomicLong(), firstTime = new AtomicLong(-1);
        final CountDownLatch drained = new CountDownLatch(1);
        jssc.addStreamingListener(new StreamingListener() {
            @Override
            public void onBatchCompleted(StreamingListenerBatchCompleted done) {
                BatchInfo b = done.batchInfo();
                long t = b.batchTime().milliseconds(), n = b.numRecords();
                long end = (Long) b.processingEndTime().get();
                System.out.printf("batch %d records %d sched %d proc %d end %d%n", t, n,
                                  (Long) b.schedulingDelay().get(),
                                  (Long) b.processingDelay().get(), end);
                if (n > 0 && firstTime.get() < 0) {
                    firstTime.set(t);
                    System.out.printf("first-batch-ms %d%n", end - jvmStart);
                }
                if (n > 0 && taken.addAndGet(n) >= total && drained.getCount() > 0) {
                    double secs = (end - firstTime.get()) / 1000.0;
                    System.out.printf("result records %d seconds %.2f records/s %.0f%n", total,
                                      secs, total / secs);
                    drained.countDown();
                }
                System.out.flush();
            }
        });
        jssc.start();
        drained.await();
        jssc.stop(true, false);
    }
}
