
bad*#
spark.streaming.blockInterval1x* 
sluice.rpc.maxMessageSize64m*
spark.task.maxFailures-1